"""Where vpushd keeps its state and finds its configuration: the XDG Base Directory
specification's variables, and systemd's STATE_DIRECTORY, only ever as absolute paths. A
relative one would put the state under whatever directory vpushd was started from (the
unit's, a shell's, the bus daemon's), and each start from elsewhere would see other
factors, and sweep the keys of the first ones as unowned."""

import os
import re
import subprocess

import pytest

BUILD_DIR = os.environ["VPUSH_BUILD_DIR"]


def start(tmp, env, *args):
    """The built vpushd started from tmp/cwd with no session bus to find: its stderr."""
    cwd = os.path.join(tmp, "cwd")
    runtime = os.path.join(tmp, "runtime")
    policy = os.path.join(tmp, "policy")
    for d in (cwd, runtime, policy):
        os.makedirs(d, mode=0o700, exist_ok=True)
    full = {"PATH": os.environ["PATH"], "HOME": tmp, "XDG_RUNTIME_DIR": runtime}
    full.update(env)
    r = subprocess.run([os.path.join(BUILD_DIR, "daemon", "vpushd"), "--policy-dir", policy]
                       + list(args), cwd=cwd, env=full, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr  # no bus: started as far as its state
    return r.stderr


def state_dir(stderr):
    m = re.search(r"state in (\S+)", stderr)
    assert m, stderr
    return m.group(1)


@pytest.mark.parametrize("variable", ["XDG_STATE_HOME", "STATE_DIRECTORY"])
def test_relative_state_directory_is_ignored(tmp_path, variable):
    tmp = str(tmp_path)
    stderr = start(tmp, {variable: "relstate"})
    assert state_dir(stderr) == os.path.join(tmp, ".local", "state", "vpush")
    assert "%s=relstate is ignored" % variable in stderr
    assert not os.path.exists(os.path.join(tmp, "cwd", "relstate"))


def test_absolute_state_directories_are_taken(tmp_path):
    tmp = str(tmp_path)
    assert state_dir(start(tmp, {"XDG_STATE_HOME": os.path.join(tmp, "s")})) == \
        os.path.join(tmp, "s", "vpush")
    # systemd's, first of several
    assert state_dir(start(tmp, {"STATE_DIRECTORY": "%s/a:%s/b" % (tmp, tmp),
                                 "XDG_STATE_HOME": os.path.join(tmp, "s")})) == \
        os.path.join(tmp, "a")


def test_relative_state_dir_option_is_made_absolute(tmp_path):
    """--state-dir is the user's own choice, relative to where they are: taken as the
    absolute path it names then, and logged so."""
    tmp = str(tmp_path)
    assert state_dir(start(tmp, {}, "--state-dir", "here")) == os.path.join(tmp, "cwd", "here")


def test_relative_config_home_is_ignored(tmp_path):
    """A vpushd.conf under a relative XDG_CONFIG_HOME is not read: this one would stop
    vpushd with a configuration error (78)."""
    tmp = str(tmp_path)
    conf = os.path.join(tmp, "cwd", "relconf", "vpush")
    os.makedirs(conf)
    with open(os.path.join(conf, "vpushd.conf"), "w") as f:
        f.write("[Verify]\nBaseUrl=ftp://nowhere.invalid/\n")
    stderr = start(tmp, {"XDG_CONFIG_HOME": "relconf"})
    assert "XDG_CONFIG_HOME=relconf is ignored" in stderr
    assert "configuration built-in defaults" in stderr
