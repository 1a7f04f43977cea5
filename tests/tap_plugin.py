"""pytest plugin: report every test as a TAP line so that meson (protocol 'tap') and the
closing count of tests/run-all see each test case, not just each file."""

_count = 0
_failed = set()


def pytest_addoption(parser):
    # we run with -p no:terminal, which also takes away -v; assertion rewriting reads it
    parser.addoption("--verbose", action="count", default=0, dest="verbose")


def _emit(line):
    print(line, flush=True)


def pytest_runtest_logreport(report):
    global _count
    nodeid = report.nodeid
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _count += 1
        if report.skipped:
            _emit(f"ok {_count} - {nodeid} # SKIP")
        elif report.passed:
            _emit(f"ok {_count} - {nodeid}")
        else:
            _failed.add(nodeid)
            _emit(f"not ok {_count} - {nodeid}")
            for line in str(report.longrepr).splitlines():
                _emit("# " + line)
    elif report.when == "teardown" and report.failed and nodeid not in _failed:
        _count += 1
        _emit(f"not ok {_count} - {nodeid} (teardown)")
        for line in str(report.longrepr).splitlines():
            _emit("# " + line)


def pytest_sessionfinish(session, exitstatus):
    _emit(f"1..{_count}")
