"""What tests share that is not a fixture: fakes, scripted servers, engines, child scripts."""
