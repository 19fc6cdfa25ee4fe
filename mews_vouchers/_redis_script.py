"""The shared window's server-side script, and the Redis keys it keeps the window in.

Everything that decides is in one Lua script run by the Redis server, so a decision is
one atomic round trip and every worker reads one clock: the server's (``TIME``), never
its own.  This module imports nothing of redis-py; :mod:`mews_vouchers.redis` runs it.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

KEY_PREFIX: Final = "mews-vouchers:ratelimit"
"""Every key starts with this (an ACL can grant ``~mews-vouchers:*``)."""

_KEY_DOMAIN: Final = b"mews-vouchers rate limit\x00"
_DIGEST_CHARS: Final = 32  # 128 bits: no two tokens collide, and none can be read back

# The script's operations (its ARGV[1]).
ACQUIRE: Final = "acquire"
RELEASE: Final = "release"
PAUSE: Final = "pause"

SCRIPT: Final = """
-- The rate-limit window of one access token, kept on this server's clock.
-- KEYS[1]: the slots, a sorted set: member = a slot id, score = when the slot frees
--          (microseconds on this server's clock).  A request's slot is scored
--          now + LEASE while it is in flight, and now + WINDOW once it is answered.
-- KEYS[2]: the pause deadline (microseconds) that a 429 sets, honoured by every acquire.
-- ARGV[1] is the operation:
--   acquire SLOT LIMIT WINDOW LEASE TTL -> {1, 0} granted, or {0, WAIT} (microseconds)
--   release SLOT WINDOW TTL             -> {1, 0}
--   pause   MICROSECONDS                -> {1, REMAINING} (of the pause now in force)
-- Numbers reach Redis as strings made by %.0f, whatever a server's own conversion does:
-- Lua's tostring() prints 1733123456789012 (microseconds now) as 1.733123456789e+15.
local function int(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local op = ARGV[1]
if op == 'acquire' then
  local slot, limit = ARGV[2], tonumber(ARGV[3])
  local window, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
  local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
  if paused > now then return {0, paused - now} end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
  -- A slot already held (an acquire retried after its reply was lost) is not a second one.
  if redis.call('ZCARD', KEYS[1]) < limit or redis.call('ZSCORE', KEYS[1], slot) then
    redis.call('ZADD', KEYS[1], int(now + lease), slot)
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    return {1, 0}
  end
  -- Full: wait for the earliest expiry, but never longer than one window, because a
  -- request answered from now on frees its slot a window after its answer at the
  -- soonest.  So a waiter wakes when a slot may free, and polls no more than that.
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = tonumber(first[2]) - now
  if wait > window then wait = window end
  return {0, wait}
elseif op == 'release' then
  -- Plain ZADD: a slot whose lease ran out while its request was in flight is held
  -- again, for a window after the answer, as every answered request's slot is.
  redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[3])), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {1, 0}
elseif op == 'pause' then
  local deadline = now + tonumber(ARGV[2])
  local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
  if deadline > paused then
    -- The key outlives the pause by a second, then goes: an idle token leaves nothing.
    redis.call('SET', KEYS[2], int(deadline), 'PX', int(math.ceil((deadline - now) / 1000) + 1000))
  else
    deadline = paused
  end
  return {1, deadline - now}
end
return redis.error_reply('mews-vouchers rate limit: unknown operation ' .. tostring(op))
"""


def window_key(access_token: str) -> str:
    """Return the key prefix of *access_token*'s window: a hash, never the token itself.

    The hash is tagged (``{...}``) so that both keys of a window live on one Redis
    Cluster node, as a script touching both needs.
    """
    digest = hashlib.sha256(_KEY_DOMAIN + access_token.encode("utf-8")).hexdigest()
    return f"{KEY_PREFIX}:{{{digest[:_DIGEST_CHARS]}}}"


def slot_keys(access_token: str) -> tuple[str, str]:
    """Return the two keys of *access_token*'s window: its slots and its pause deadline."""
    base = window_key(access_token)
    return f"{base}:slots", f"{base}:pause"


def microseconds(seconds: float) -> int:
    """Return *seconds* as whole microseconds, rounded up (a wait is never cut short)."""
    return math.ceil(seconds * 1_000_000)
