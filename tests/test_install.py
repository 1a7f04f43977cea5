"""`meson install --destdir` puts every file where a distribution expects it, and nothing
else; the installed unit passes `systemd-analyze --user verify` without a word."""

import configparser
import filecmp
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

SOURCE_DIR = os.environ["VPUSH_SOURCE_DIR"]
BUILD_DIR = os.environ["VPUSH_BUILD_DIR"]
MAN_PAGES = os.environ.get("VPUSH_MAN_PAGES") == "1"


def names_h(define):
    with open(os.path.join(SOURCE_DIR, "dbus", "vpush-names.h")) as f:
        return re.search(r'#define %s\s+"([^"]+)"' % define, f.read()).group(1)


def build_options():
    r = subprocess.run(["meson", "introspect", "--buildoptions", BUILD_DIR],
                       capture_output=True, text=True, check=True, timeout=60)
    return {o["name"]: o["value"] for o in json.loads(r.stdout)}


def pkgconfig_dir(package, variable, define, fallback):
    """As the build finds it: pkg-config's variable relative to our prefix, else fallback."""
    r = subprocess.run(["pkg-config", "--define-variable=%s=%s" % define,
                        "--variable=" + variable, package], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else fallback


def read_ini(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    with open(path) as f:
        parser.read_file(f)
    return parser


@pytest.fixture(scope="module")
def tree():
    """The install tree and the directories the files must be in."""
    opts = build_options()
    prefix = opts["prefix"]
    datadir = os.path.join(prefix, opts["datadir"])
    dirs = {
        "bindir": os.path.join(prefix, opts["bindir"]),
        "libexecdir": os.path.join(prefix, opts["libexecdir"]),
        "datadir": datadir,
        "mandir": os.path.join(prefix, opts["mandir"]),
        "unitdir": opts["systemd_user_unit_dir"] or pkgconfig_dir(
            "systemd", "systemd_user_unit_dir", ("prefix", prefix),
            os.path.join(prefix, "lib", "systemd", "user")),
        "servicedir": opts["session_bus_services_dir"] or pkgconfig_dir(
            "dbus-1", "session_bus_services_dir", ("datadir", datadir),
            os.path.join(datadir, "dbus-1", "services")),
        "completionsdir": opts["bash_completions_dir"] or pkgconfig_dir(
            "bash-completion", "completionsdir", ("datadir", datadir),
            os.path.join(datadir, "bash-completion", "completions")),
    }
    destdir = tempfile.mkdtemp(prefix="vpush-install.")
    r = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--no-rebuild", "--destdir",
                        destdir], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    yield destdir, dirs
    shutil.rmtree(destdir, ignore_errors=True)


def expected_files(dirs):
    """installed path → (source to compare with or None, mode)."""
    files = {
        os.path.join(dirs["libexecdir"], "vpushd"): (None, 0o755),
        os.path.join(dirs["bindir"], "vpushctl"): (None, 0o755),
        os.path.join(dirs["unitdir"], "vpushd.service"):
            (os.path.join(BUILD_DIR, "systemd", "vpushd.service"), 0o644),
        os.path.join(dirs["servicedir"], "io.github.vpush.service"):
            (os.path.join(BUILD_DIR, "dbus", "io.github.vpush.service"), 0o644),
        os.path.join(dirs["completionsdir"], "vpushctl"):
            (os.path.join(SOURCE_DIR, "cli", "vpushctl.bash-completion"), 0o644),
    }
    for name in ("Manager", "Factor", "Challenge"):
        xml = "io.github.vpush1.%s.xml" % name
        files[os.path.join(dirs["datadir"], "dbus-1", "interfaces", xml)] = \
            (os.path.join(SOURCE_DIR, "dbus", xml), 0o644)
    for conf in glob.glob(os.path.join(SOURCE_DIR, "policy", "*.conf")):
        files[os.path.join(dirs["datadir"], "vpush", "policy.d", os.path.basename(conf))] = \
            (conf, 0o644)
    if MAN_PAGES:
        for page in ("vpushd.8", "vpushctl.1", "vpushd.conf.5", "vpush-policy.5"):
            files[os.path.join(dirs["mandir"], "man" + page[-1], page)] = \
                (os.path.join(BUILD_DIR, "docs", "man", page), 0o644)
    return files


def test_every_file_in_its_place(tree):
    destdir, dirs = tree
    expected = expected_files(dirs)
    installed = set()
    for root, _, names in os.walk(destdir):
        for name in names:
            installed.add(os.path.join(root, name)[len(destdir):])
    assert installed == set(expected), {"missing": sorted(set(expected) - installed),
                                        "unexpected": sorted(installed - set(expected))}
    for path, (source, mode) in expected.items():
        st = os.stat(destdir + path)
        assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))
        if source:
            assert filecmp.cmp(destdir + path, source, shallow=False), path


def test_binaries_run(tree):
    destdir, dirs = tree
    for exe, name in ((os.path.join(dirs["libexecdir"], "vpushd"), "vpushd"),
                      (os.path.join(dirs["bindir"], "vpushctl"), "vpushctl")):
        r = subprocess.run([destdir + exe, "--version"], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 0 and r.stdout == "%s 0.1.0\n" % name, r


def test_unit(tree):
    destdir, dirs = tree
    unit = read_ini(destdir + os.path.join(dirs["unitdir"], "vpushd.service"))
    service = unit["Service"]
    # ready at READY=1, sent once the name is owned; a vpushd that can't start sends none
    assert service["Type"] == "notify"
    assert service["BusName"] == names_h("VPUSH_DBUS_NAME")
    assert service["ExecStart"] == os.path.join(dirs["libexecdir"], "vpushd")
    assert service["Restart"] == "on-failure"
    assert service["NotifyAccess"] == "main"
    # systemctl --user reload: vpushd reads its policy again on SIGHUP
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert re.fullmatch(r"\d+s", service["WatchdogSec"])
    assert "StateDirectory" not in service
    # the integration tests and bench/run start vpushd with it (vpushtest.unit_environment)
    assert service["Environment"] == "GNUTLS_NO_IMPLICIT_INIT=1"
    assert unit["Install"]["WantedBy"] == "default.target"
    pages = re.findall(r"man:([\w.-]+)\((\d)\)", unit["Unit"]["Documentation"])
    assert sorted(pages) == [("vpush-policy", "5"), ("vpushctl", "1"), ("vpushd", "8"),
                             ("vpushd.conf", "5")]


def run_vpushd(tmp, *args):
    """The built vpushd with args, no session bus to find: its exit status."""
    runtime = os.path.join(tmp, "runtime")
    os.makedirs(runtime, mode=0o700, exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": tmp, "XDG_RUNTIME_DIR": runtime,
           "XDG_CONFIG_HOME": os.path.join(tmp, "config")}
    r = subprocess.run([os.path.join(BUILD_DIR, "daemon", "vpushd"),
                        "--state-dir", os.path.join(tmp, "state")] + list(args),
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=60)
    return r.returncode


def test_unit_does_not_restart_what_no_restart_fixes(tree, tmp_path):
    """A wrong option, configuration or policy stops vpushd with a status of its own; no
    exit of vpushd's own is restarted by the unit (a crash is), and there is no start
    limit, which a D-Bus activation past it would wait out for the bus's timeout."""
    destdir, dirs = tree
    tmp = str(tmp_path)
    good = os.path.join(tmp, "good")
    bad = os.path.join(tmp, "bad")
    os.makedirs(good)
    os.makedirs(bad)
    with open(os.path.join(bad, "50-bad.conf"), "w") as f:
        f.write("[Rule bad]\nActions=fly\n")
    conf = os.path.join(tmp, "vpushd.conf")
    with open(conf, "w") as f:
        f.write("[Verify]\nBaseUrl=ftp://verify.example.invalid/v2/\n")

    usage = run_vpushd(tmp, "--policy-dir", good, "--no-such-option")
    config = run_vpushd(tmp, "--policy-dir", good, "--config", conf)
    policy = run_vpushd(tmp, "--policy-dir", bad)
    no_bus = run_vpushd(tmp, "--policy-dir", good)
    assert (usage, config, policy, no_bus) == (64, 78, 78, 1)

    unit = read_ini(destdir + os.path.join(dirs["unitdir"], "vpushd.service"))
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert sorted(int(s) for s in service["RestartPreventExitStatus"].split()) == [1, 64, 78]
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"


def test_activation_file(tree):
    destdir, dirs = tree
    section = read_ini(destdir + os.path.join(dirs["servicedir"],
                                              "io.github.vpush.service"))["D-BUS Service"]
    assert dict(section) == {"Name": names_h("VPUSH_DBUS_NAME"),
                             "Exec": os.path.join(dirs["libexecdir"], "vpushd"),
                             "SystemdService": "vpushd.service"}


def test_man_pages(tree):
    if not MAN_PAGES:
        pytest.skip("built without man pages (no scdoc)")
    destdir, dirs = tree
    texts = {}
    for page in ("vpushd.8", "vpushctl.1", "vpushd.conf.5", "vpush-policy.5"):
        name, section = page.rsplit(".", 1)
        with open(destdir + os.path.join(dirs["mandir"], "man" + section, page)) as f:
            text = f.read()
        assert re.search(r'^\.TH "%s" "%s"' % (re.escape(name), section), text, re.M), page
        assert '.SH NAME' in text and '.SH SEE ALSO' in text, page
        assert "@" not in text, page  # every @VAR@ filled in by the build
        # as groff shows them: scdoc writes "." as ".\&" inside a line
        texts[page] = re.sub(r"\\fR|\\fI|\\fB", "", text).replace("\\&", "")
    # the paths this build installs to and vpushd reads, not a fixed prefix's
    policy = os.path.join(dirs["datadir"], "vpush", "policy.d") + "/"
    for page in ("vpushd.8", "vpush-policy.5"):
        assert policy in texts[page], page
    assert os.path.join(dirs["datadir"], "dbus-1", "interfaces") + "/" in texts["vpushd.8"]
    assert os.path.join(dirs["libexecdir"], "vpushd") in texts["vpushd.8"]
    # where an integrator finds the unit and the activation file this build installed
    assert os.path.join(dirs["unitdir"], "vpushd.service") in texts["vpushd.8"]
    assert os.path.join(dirs["servicedir"], "io.github.vpush.service") in texts["vpushd.8"]


def test_bash_completion(tree):
    destdir, dirs = tree
    script = destdir + os.path.join(dirs["completionsdir"], "vpushctl")

    def complete(*words):
        line = " ".join("'%s'" % w for w in words)
        code = ('source "$0"; COMP_WORDS=(%s); COMP_CWORD=%d; _vpushctl; '
                'printf "%%s\\n" "${COMPREPLY[@]}"' % (line, len(words) - 1))
        r = subprocess.run(
            [shutil.which("bash"), "--norc", "-c", code, script],
            capture_output=True, text=True, timeout=10,
            env={"PATH": "/nonexistent", "HOME": destdir})
        assert r.returncode == 0 and r.stderr == "", r
        return r.stdout.split()

    assert complete("vpushctl", "ap") == ["approve"]
    assert complete("vpushctl", "--json", "mon") == ["monitor"]
    assert complete("vpushctl", "approve", "--tr") == ["--transaction-id"]
    assert complete("vpushctl", "challenges", "--hi") == ["--history"]
    assert complete("vpushctl", "challenges", "--history", "--order", "") == ["asc", "desc"]
    assert complete("vpushctl", "enroll", "--no") == ["--no-verify"]
    assert complete("vpushctl", "help", "ap") == ["approve"]
    assert complete("vpushctl", "help", "approve", "") == []


def test_systemd_analyze_verify(tree):
    """The installed unit, with ExecStart= at the installed binary in the destdir (verify
    wants it to exist) and the installed man pages on MANPATH: no output at all."""
    destdir, dirs = tree
    work = tempfile.mkdtemp(prefix="vpush-verify.")
    try:
        runtime = os.path.join(work, "runtime")
        os.makedirs(runtime, mode=0o700)
        exe = os.path.join(dirs["libexecdir"], "vpushd")
        with open(destdir + os.path.join(dirs["unitdir"], "vpushd.service")) as f:
            text = f.read()
        assert "ExecStart=%s\n" % exe in text
        with open(os.path.join(work, "vpushd.service"), "w") as f:
            f.write(text.replace("ExecStart=%s\n" % exe, "ExecStart=%s\n" % (destdir + exe)))
        args = ["systemd-analyze", "--user", "verify"]
        if not (MAN_PAGES and shutil.which("man")):
            args.append("--man=no")
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime,
                   MANPATH=destdir + dirs["mandir"], SYSTEMD_LOG_COLOR="0")
        r = subprocess.run(args + [os.path.join(work, "vpushd.service")], env=env,
                           capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout + r.stderr) == (0, "")
    finally:
        shutil.rmtree(work, ignore_errors=True)
