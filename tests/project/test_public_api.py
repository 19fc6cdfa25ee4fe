"""The public surface: API.md's names and signatures, a sorted __all__, docstrings."""

from __future__ import annotations

import importlib.metadata
import inspect
import tomllib
import uuid
from pathlib import Path

import aiohttp
import attrs
import orjson
import pytest

import mews_vouchers
import mews_vouchers.testing
from mews_vouchers import MewsClient, MewsConfigError, RawResponse, Transport

# Every name API.md (the fixed contract) promises at the top level.
CONTRACT = {
    "MewsClient", "DEMO_URL", "PRODUCTION_URL", "RateLimit", "RetryPolicy", "UNSET",
    "VoucherType", "ActivityState", "VoucherParameters", "VoucherUpdate", "Voucher",
    "VoucherCode", "VoucherCodeParameters", "VoucherAssignment", "Rate", "Company",
    "VoucherExtent", "TimeInterval", "VouchersResult", "ChunkFailure",
    "MewsError", "MewsConfigError", "MewsValidationError", "MewsConnectionError",
    "MewsApiError", "BadRequestError", "AuthenticationError", "ForbiddenError",
    "RequestTimeoutError", "RateLimitError", "ServerError", "BulkOperationError",
    "ConflictError", "PayloadTooLargeError",
}  # fmt: skip


@pytest.mark.parametrize("module", [mews_vouchers, mews_vouchers.testing])
def test_all_is_sorted_and_exported(module: object) -> None:
    """__all__ is sorted (isort-style, as ruff keeps it) and every name in it exists."""
    names = module.__all__  # type: ignore[attr-defined]

    def isort_key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
        return kind, name

    assert names == sorted(names, key=isort_key)
    for name in names:
        assert hasattr(module, name), name


def test_contract_names_are_exported() -> None:
    """Every name of API.md is importable from mews_vouchers."""
    assert set(mews_vouchers.__all__) >= CONTRACT
    assert "MewsSimulator" in mews_vouchers.testing.__all__


def test_the_version_comes_from_the_package_metadata() -> None:
    """__version__ is the installed distribution's, which is pyproject's: written once."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert mews_vouchers.__version__ == importlib.metadata.version("mews-vouchers")
    assert mews_vouchers.__version__ == pyproject["project"]["version"]


def test_public_objects_have_one_sentence_docstrings() -> None:
    """Every public class and function says what it is in its first line."""
    for name in mews_vouchers.__all__:
        obj = getattr(mews_vouchers, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            doc = inspect.getdoc(obj)
            assert doc, name
            assert doc.splitlines()[0].endswith("."), name


def test_client_signature_matches_the_contract() -> None:
    """MewsClient takes API.md's keywords with API.md's defaults."""
    params = inspect.signature(MewsClient).parameters
    assert params["base_url"].default == mews_vouchers.DEMO_URL
    assert params["session"].default is None
    assert params["max_concurrency"].default == 8
    assert params["rate_limit"].default == mews_vouchers.RateLimit(requests=200, per_seconds=30.0)
    assert params["retry"].default == mews_vouchers.RetryPolicy()
    assert params["timeout"].default == 60.0
    assert params["chunk_size"].default == 1000
    assert params["page_size"].default == 1000
    assert params["language_code"].default is params["culture_code"].default is None
    for required in ("client_token", "access_token", "client"):
        assert params[required].default is inspect.Parameter.empty


def test_retry_policy_defaults_match_the_contract() -> None:
    """RetryPolicy(max_attempts=5, initial_backoff=0.5, max_backoff=30.0, jitter=True)."""
    policy = mews_vouchers.RetryPolicy()
    assert (policy.max_attempts, policy.initial_backoff, policy.max_backoff, policy.jitter) == (
        5,
        0.5,
        30.0,
        True,
    )


@pytest.mark.parametrize(
    "cls",
    [
        mews_vouchers.VoucherParameters,
        mews_vouchers.VoucherUpdate,
        mews_vouchers.Voucher,
        mews_vouchers.VoucherCode,
        mews_vouchers.VoucherCodeParameters,
        mews_vouchers.VoucherAssignment,
        mews_vouchers.VoucherExtent,
        mews_vouchers.TimeInterval,
        mews_vouchers.VouchersResult,
        mews_vouchers.Rate,
        mews_vouchers.Company,
        mews_vouchers.RawResponse,
    ],
)
def test_models_are_frozen_keyword_only_attrs_classes(cls: type) -> None:
    """Models are attrs classes, frozen, keyword-only."""
    assert attrs.has(cls)
    assert all(field.kw_only for field in attrs.fields(cls))
    instance_fields = {f.name: f for f in attrs.fields(cls)}
    assert all(name == name.lower() for name in instance_fields)  # snake_case
    with pytest.raises(TypeError):
        cls("positional")


class CannedTransport:
    """A transport of the test's own: it answers from a list and keeps what it was sent."""

    def __init__(self, *answers: RawResponse) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, dict[str, object]]] = []
        self.closed = False

    async def post(self, path: str, body: bytes, *, timeout: float) -> RawResponse:  # noqa: ASYNC109
        self.sent.append((path, orjson.loads(body)))
        return self.answers.pop(0)

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.anyio
async def test_a_transport_of_ones_own_carries_every_request() -> None:
    """MewsClient(transport=...) sends through any Transport; the client keeps its rules."""
    transport = CannedTransport(
        RawResponse(status=429, body=b"{}", retry_after="0"),
        RawResponse(status=200, body=b'{"Vouchers": [], "Cursor": null}', request_id="r-1"),
    )
    assert isinstance(transport, Transport)
    async with MewsClient(
        client_token="C" * 24, access_token="A" * 24, client="unit 1.0", transport=transport
    ) as client:
        result = await client.vouchers.get_all(service_ids=[uuid.uuid4()])
    assert result.vouchers == []
    assert [path for path, _ in transport.sent] == ["/api/connector/v1/vouchers/getAll"] * 2
    assert transport.sent[0][1]["AccessToken"] == "A" * 24
    assert client.stats.rate_limited == 1  # the 429 was the client's to retry
    assert transport.closed


@pytest.mark.parametrize("transport", [object(), "http://127.0.0.1:1"])
def test_something_else_than_a_transport_is_refused(transport: object) -> None:
    """A transport= without post() and aclose() is a MewsConfigError at once."""
    with pytest.raises(MewsConfigError, match="transport must be a Transport"):
        MewsClient(
            client_token="C" * 24, access_token="A" * 24, client="t 1.0", transport=transport
        )  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_transport_and_a_session_are_refused_together() -> None:
    """The session would never be used: say so rather than ignore it."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(MewsConfigError, match="not both"):
            MewsClient(
                client_token="C" * 24,
                access_token="A" * 24,
                client="t 1.0",
                session=session,
                transport=CannedTransport(),
            )
