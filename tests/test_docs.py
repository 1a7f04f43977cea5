"""README and the man pages against the code.

The config and policy examples of README and the man pages load as they are written:
each config example with `vpushd --config`, each policy example (and the shipped
default.conf) with `--policy-dir`, with no error and no warning about them. vpushd runs
without a session bus, so it stops right after loading them.

What the sources list is documented, and what is documented is in the sources: the D-Bus
errors vpushd replies with (vpushd(8) ERRORS), the config keys with their ranges and
defaults (vpushd.conf(5)), the keys and actions of a policy rule and what its name may
be (vpush-policy(5), README), the options of vpushd and of each vpushctl command with
their short forms (vpushd(8), vpushctl(1)), the journal's MESSAGE_IDs and fields, the bounds of an enrollment and of a config or
policy file, where the emulator's OpenAPI document is looked for."""

import os
import re
import subprocess

import pytest

SOURCE_DIR = os.environ["VPUSH_SOURCE_DIR"]
BUILD_DIR = os.environ["VPUSH_BUILD_DIR"]
VPUSHD = os.path.join(BUILD_DIR, "daemon", "vpushd")


def read(*parts):
    with open(os.path.join(SOURCE_DIR, *parts)) as f:
        return f.read()


def readme_blocks():
    """README's indented code blocks (runs of lines indented by four spaces)."""
    blocks, lines = [], []
    for line in read("README.md").splitlines() + [""]:
        if line.startswith("    "):
            lines.append(line[4:])
        elif lines:
            blocks.append("\n".join(lines) + "\n")
            lines = []
    return blocks


def man_example(page):
    """The code block of a man page's EXAMPLE section."""
    section = read("docs", "man", page + ".scd").split("\n# EXAMPLE\n", 1)[1]
    return re.search(r"^```\n(.*?)^```$", section, re.S | re.M).group(1)


def config_examples():
    found = [("README", b) for b in readme_blocks() if b.startswith("[Verify]\n")]
    assert len(found) == 1, found
    return found + [("vpushd.conf(5)", man_example("vpushd.conf.5"))]


def policy_examples():
    found = [("README", b) for b in readme_blocks() if re.search(r"^\[Rule ", b, re.M)]
    assert len(found) == 1, found
    return found + [("vpush-policy(5)", man_example("vpush-policy.5")),
                    ("policy/default.conf", read("policy", "default.conf"))]


def load(tmp_path, config, policy):
    """vpushd's stderr after it loaded config (a path or None) and the policy dir."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    # no bus to find: not the caller's, not one at $XDG_RUNTIME_DIR/bus
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "XDG_RUNTIME_DIR": str(runtime), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    args = [VPUSHD, "--policy-dir", str(policy), "--state-dir", str(tmp_path / "state")]
    if config:
        args += ["--config", str(config)]
    r = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    # 1: no session bus, which is only looked for once the config and policy are loaded
    assert r.returncode == 1, r
    # and why, which GDBus alone does not say
    assert re.search(r"no connection to the session bus \(.+\), so no io\.github\.vpush",
                     r.stderr), r.stderr
    return r.stderr


CONFIGS = config_examples()
POLICIES = policy_examples()


@pytest.mark.parametrize("origin,text", CONFIGS, ids=[o for o, _ in CONFIGS])
def test_config_example_loads(tmp_path, origin, text):
    config = tmp_path / "vpushd.conf"
    config.write_text(text)
    policy = tmp_path / "policy"
    policy.mkdir()
    err = load(tmp_path, config, policy)
    assert "starting, configuration %s," % config in err, (origin, err)
    assert str(config) + ":" not in err, (origin, err)  # no error or warning about it


@pytest.mark.parametrize("origin,text", POLICIES, ids=[o for o, _ in POLICIES])
def test_policy_example_loads(tmp_path, origin, text):
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "example.conf").write_text(text)
    err = load(tmp_path, None, policy)
    rules = len(re.findall(r"^\[Rule ", text, re.M))
    assert "policy loaded: %d rule%s from %s\n" % (
        rules, "" if rules == 1 else "s", policy / "example.conf") in err, (origin, err)
    assert str(policy / "example.conf") + ":" not in err, (origin, err)


def test_skipped_policy_names_are_in_vpush_policy_5(tmp_path):
    """Every name vpush-policy(5) says is skipped is: broken files of those names beside a
    good one leave the policy of the good one; the page says a dot skips a name."""
    text = " ".join(read("docs", "man", "vpush-policy.5.scd").split())
    sentence = re.search(r"Only names that end in _\.conf_ and do not start with a dot are "
                         r"read; the rest are skipped(.*?)\. ", text)
    assert sentence, "vpush-policy(5) does not say which files are skipped"
    names = re.findall(r"_([^_ ]+)_", sentence.group(1))
    assert any(n.startswith(".") and n.endswith(".conf") for n in names), names
    assert any(n.endswith("~") for n in names), names
    policy = tmp_path / "policy"
    policy.mkdir()
    good = policy / "50-good.conf"
    good.write_text("[Rule good]\nActions=list\nCallers=*\n")
    for name in names:
        (policy / name).write_text("[Rule broken]\nActions=fly\n")
    err = load(tmp_path, None, policy)
    assert "policy loaded: 1 rule from %s\n" % good in err, (names, err)


def daemon_sources():
    directory = os.path.join(SOURCE_DIR, "daemon")
    return {name: read("daemon", name) for name in sorted(os.listdir(directory))
            if name.endswith(".c")}


def dbus_errors_sent():
    """Every D-Bus error name vpushd can reply with: its own (dbus/vpush-names.h) and the
    org.freedesktop.DBus ones it sets (G_DBUS_ERROR_ACCESS_DENIED → AccessDenied), not
    those it only compares against."""
    names = {"io.github.vpush1.Error." + n for n in re.findall(
        r'^#define VPUSH_DBUS_ERROR_\w+ +VPUSH_DBUS_ERROR_PREFIX "(\w+)"',
        read("dbus", "vpush-names.h"), re.M)}
    for text in daemon_sources().values():
        for m in re.finditer(r"G_DBUS_ERROR,\s*G_DBUS_ERROR_(\w+)", text):
            statement = text[max(text.rfind(";", 0, m.start()),
                                 text.rfind("{", 0, m.start())):m.start()]
            if "g_error_matches" not in statement:
                names.add("org.freedesktop.DBus.Error." + "".join(
                    w.capitalize() for w in m.group(1).split("_")))
    return names


def test_every_error_is_in_vpushd_8():
    """vpushd(8) ERRORS lists each error a caller can get, and no other."""
    assert "io.github.vpush1.Error.NotFound" in dbus_errors_sent()
    assert "org.freedesktop.DBus.Error.AccessDenied" in dbus_errors_sent()
    section = read("docs", "man", "vpushd.8.scd").split("\n## ERRORS\n", 1)[1]
    section = section.split("\n#", 1)[0]
    listed = set(re.findall(r"^\*([\w.]+\.Error\.\w+)\*$", section, re.M))
    assert listed == dbus_errors_sent(), (listed ^ dbus_errors_sent())


def config_keys():
    """{(group, key)} of the keys vpushd.conf may hold (known_groups of vpush-config.c)."""
    text = read("daemon", "vpush-config.c")
    table = re.search(r"known_groups\[\] = \{(.*?)\n\};", text, re.S).group(1)
    keys = set()
    for group, names in re.findall(r'\{ "(\w+)", \{ ([^}]*) \} \}', table):
        keys |= {(group, k) for k in re.findall(r'"(\w+)"', names)}
    return keys


def config_numbers():
    """{(group, key): (min, max, default)} of the numeric keys, as vpush-config.c reads
    them and sets their defaults."""
    text = read("daemon", "vpush-config.c")
    macros = dict(re.findall(r"^#define (\w+) +(\d+)$", read("daemon", "vpush-log.h"), re.M))
    defaults = {field: int(macros.get(value, value)) for field, value in re.findall(
        r"config->(\w+) = (\w+);", text.split("vpush_config_new_default", 1)[1].split("\n}")[0])}
    return {(group, key): (int(low), int(high), defaults[field])
            for group, key, low, high, field in re.findall(
                r'read_uint \(keyfile, file, "(\w+)", "(\w+)", (\d+), (\d+),\s*&config->(\w+)',
                text)}


def config_man_entries():
    """{(group, key): text} of vpushd.conf(5)'s entries, one per `*Key*=` of a [Group]."""
    page = read("docs", "man", "vpushd.conf.5.scd")
    entries = {}
    for group, body in re.findall(r"^# \[(\w+)\]\n(.*?)(?=^# )", page, re.S | re.M):
        for key, text in re.findall(r"^\*(\w+)\*=\n((?:\t.*\n|\n)*)", body, re.M):
            assert (group, key) not in entries, (group, key)
            entries[(group, key)] = " ".join(text.split())
    return entries


def test_config_keys_are_in_vpushd_conf_5():
    """Every key the parser knows has its entry in vpushd.conf(5), under its group, and
    the page has no other; a number's range and default are the parser's."""
    keys, numbers, entries = config_keys(), config_numbers(), config_man_entries()
    assert ("Approval", "TransactionIdKey") in keys and ("Poll", "IntervalSeconds") in numbers
    assert set(entries) == keys, set(entries) ^ keys
    assert set(numbers) <= keys
    for (group, key), (low, high, default) in numbers.items():
        text = entries[(group, key)]
        assert "%d to %d" % (low, high) in text, (group, key, text)
        assert "default %d" % default in text, (group, key, text)


def test_config_urls_say_what_is_refused():
    """A URL key's entry says what the loader refuses: plain http to a host that is not
    loopback, a user name or password in the URL."""
    url_keys = set(re.findall(r'check_url \(file, "(\w+)", "(\w+)"',
                              read("daemon", "vpush-config.c")))
    assert url_keys == {("Verify", "BaseUrl"), ("Push", "Url")}
    entries = config_man_entries()
    for group_key in url_keys:
        text = entries[group_key]
        assert "http only to a loopback host" in text, (group_key, text)
        assert "no user name or password" in text, (group_key, text)


def test_readme_config_example_has_the_defaults():
    """README's config example shows what vpushd runs on without a file: each number
    there is the default, and each key is one the parser knows."""
    text = config_examples()[0][1]
    group, seen = None, set()
    for line in text.splitlines():
        if line.startswith("["):
            group = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            assert (group, key) in config_keys(), (group, key)
            if (group, key) in config_numbers():
                assert int(value) == config_numbers()[(group, key)][2], (group, key, value)
            seen.add((group, key))
    assert set(config_numbers()) <= seen


def policy_source():
    return read("daemon", "vpush-policy.c")


def policy_keys():
    table = re.search(r"known_keys\[\] = \{(.*?)\};", policy_source(), re.S).group(1)
    return set(re.findall(r'"(\w+)"', table))


def policy_actions():
    table = re.search(r"action_names\[\] = \{(.*?)\n\};", policy_source(), re.S).group(1)
    return set(re.findall(r'VPUSH_ACTION_\w+, "(\w+)"', table))


def policy_man_rules():
    """{key: text} of vpush-policy(5)'s RULES section, and its opening paragraph."""
    section = read("docs", "man", "vpush-policy.5.scd").split("\n# RULES\n", 1)[1]
    section = section.split("\n# ", 1)[0]
    entries = {key: " ".join(text.split()) for key, text in
               re.findall(r"^\*(\w+)\*=\n((?:\t.*\n|\n)*)", section, re.M)}
    return entries, " ".join(section.split("\n\n*", 1)[0].split())


def readme_policy_table():
    """{key: values} of README's table of rule keys."""
    return dict(re.findall(r"^\| `(\w+)` \| (.*?) \|", read("README.md"), re.M))


def test_policy_keys_and_actions_are_documented():
    """Every key of a rule and every action the parser knows is in vpush-policy(5) and
    in README's table, and they have no other; both say what a rule name may be."""
    entries, opening = policy_man_rules()
    table = readme_policy_table()
    assert "MaxChallengeAgeSeconds" in policy_keys() and "list" in policy_actions()
    assert set(entries) == policy_keys(), set(entries) ^ policy_keys()
    assert set(table) == policy_keys(), set(table) ^ policy_keys()
    man_actions = set(re.findall(r"\*(\w+)\* \(", entries["Actions"]))
    assert man_actions == policy_actions(), entries["Actions"]
    readme_actions = set(re.findall(r"`(\w+)`", table["Actions"]))
    assert readme_actions == policy_actions(), table["Actions"]
    # the parser's own words for a name, and its length
    name_max = int(re.search(r"#define RULE_NAME_MAX +(\d+)", policy_source()).group(1))
    assert "“-”, “_” or “.”" in policy_source()
    assert "name 1 to %d letters, digits, *-*, *\\_* or *.*" % name_max in opening, opening
    assert "name is 1 to %d letters, digits, `-`, `_` or `.`" % name_max in read("README.md")


def help_options(*args):
    """{long: short or None} of the options a --help lists."""
    out = subprocess.run(list(args) + ["--help"], capture_output=True, text=True,
                         timeout=60, env={"PATH": os.environ["PATH"]}).stdout
    return {long: short or None
            for short, long in re.findall(r"^  (?:-(\w), )?--([\w-]+)", out, re.M)}


def man_section(page, name):
    text = read("docs", "man", page + ".scd").split("\n# %s\n" % name, 1)[1]
    return text.split("\n# ", 1)[0]


def test_vpushd_options_are_in_vpushd_8():
    """vpushd --help and vpushd(8) OPTIONS name the same options, short forms too."""
    options = help_options(VPUSHD)
    assert options["config"] == "c" and "policy-dir" in options
    section = man_section("vpushd.8", "OPTIONS")
    documented = dict((long, short or None) for short, long in re.findall(
        r"^(?:\*-(\w)\*, )?\*--([\w-]+)\*", section, re.M))
    assert documented == options, (documented, options)


def test_vpushctl_options_are_in_vpushctl_1():
    """Each vpushctl command's options (its --help) are those vpushctl(1) gives it, with
    their short forms in the table of short forms; the global ones too."""
    vpushctl = os.path.join(BUILD_DIR, "cli", "vpushctl")
    out = subprocess.run([vpushctl, "--help"], capture_output=True, text=True,
                         timeout=60).stdout
    commands = re.findall(r"^  (\w+) ", out.split("Commands:\n", 1)[1], re.M)
    assert "approve" in commands and "help" in commands
    section = man_section("vpushctl.1", "COMMANDS")
    # an entry's first line: its names, then its synopsis
    entries = {}
    for names, synopsis in re.findall(r"^((?:\*\w+\*)(?:, \*\w+\*)*)(.*)\n\t", section, re.M):
        for name in re.findall(r"\*(\w+)\*", names):
            entries[name] = synopsis
    assert set(entries) == set(commands), set(entries) ^ set(commands)
    shorts = man_section("vpushctl.1", "OPTIONS").split("|  *", 1)[1]
    short_forms = set(re.findall(r"\*-(\w)\*\n:  \*--([\w-]+)\*\n:  ([\w, ]+)", "|  *" + shorts))
    for command in commands:
        if command == "help":
            continue
        options = help_options(vpushctl, command)
        assert options.pop("json") == "j", (command, options)
        assert options.pop("help", "h") == "h"
        documented = set(re.findall(r"\*--([\w-]+)\*", entries[command]))
        assert documented == set(options), (command, documented, set(options))
        for long, short in options.items():
            if short is not None:
                assert any(s == short and long == l and command in c.split(", ")
                           for s, l, c in short_forms), (command, short, long)
    # the global options
    globals_ = help_options(vpushctl)
    assert globals_ == {"help": "h", "json": "j", "version": None}, globals_
    section = man_section("vpushctl.1", "OPTIONS").split("\n[[", 1)[0]
    assert set(re.findall(r"^(?:\*-\w\*, )?\*--([\w-]+)\*", section, re.M)) == set(globals_)


def test_vpushctl_exit_codes_are_in_vpushctl_1():
    """The exit codes vpushctl --help lists are those of vpushctl(1)'s EXIT STATUS, and of
    cli/vpushctl.h."""
    vpushctl = os.path.join(BUILD_DIR, "cli", "vpushctl")
    out = subprocess.run([vpushctl, "--help"], capture_output=True, text=True,
                         timeout=60).stdout
    listed = out.split("Exit codes:", 1)[1].split("See vpushctl(1)", 1)[0]
    listed = [int(n) for n in re.findall(r"\b(\d+) ", listed)]
    documented = [int(n) for n in re.findall(r"^\|  (\d+)$", man_section("vpushctl.1",
                                                                      "EXIT STATUS"), re.M)]
    defined = [int(n) for n in re.findall(r"VPUSHCTL_EXIT_\w+ = (\d+),", read("cli", "vpushctl.h"))]
    assert listed == documented == defined, (listed, documented, defined)


def test_journal_ids_and_fields_are_documented():
    """vpushd(8) lists every MESSAGE_ID vpushd logs, and no other; every journal field of
    dbus/vpush-names.h is in vpushd(8) or vpush-policy(5)."""
    ids = set(re.findall(r'^#define VPUSH_MSGID_\w+ +"(\w{32})"', read("daemon", "vpush-log.h"),
                         re.M))
    assert len(ids) > 10, ids
    table = man_section("vpushd.8", "LOGGING")
    assert set(re.findall(r"^\|  (\w{32})$", table, re.M)) == ids
    fields = set(re.findall(r'^#define VPUSH_LOG_FIELD_\w+ +"(\w+)"', read("dbus", "vpush-names.h"),
                            re.M))
    assert "VPUSH_TRANSACTION" in fields and "VPUSH_LEFT_OUT" in fields
    pages = read("docs", "man", "vpushd.8.scd") + read("docs", "man", "vpush-policy.5.scd")
    assert {f for f in fields if "*%s*" % f not in pages} == set()


def test_enroll_bounds_are_in_vpushctl_1():
    """vpushctl(1) gives the bounds vpushd holds an enrollment's identity, name and
    metadata to."""
    enroll = read("daemon", "vpush-enroll.c")
    record = read("daemon", "vpush-factor-record.h")

    def define(text, name):
        return int(re.search(r"^#define %s +(\d+)$" % name, text, re.M).group(1))

    page = " ".join(read("docs", "man", "vpushctl.1.scd").split())
    assert "identity is the Verify API's: %d to %d letters, digits and dashes" % (
        define(enroll, "IDENTITY_MIN"), define(enroll, "IDENTITY_MAX")) in page
    assert "name is 1 to %d characters" % define(record, "VPUSH_FRIENDLY_NAME_MAX") in page
    assert "metadata at most %d characters as a JSON object" % define(
        record, "VPUSH_METADATA_MAX") in page


def test_file_size_limit_is_documented():
    """A config or policy file is read only when it is a regular file up to
    VPUSH_FILE_READ_MAX bytes: both pages say so."""
    limit = re.search(r"^#define VPUSH_FILE_READ_MAX \((\d+) \* (\d+)\)$",
                      read("daemon", "vpush-file-read.h"), re.M)
    assert int(limit.group(1)) * int(limit.group(2)) == 1024 * 1024, limit.group(0)
    for page in ("vpushd.conf.5", "vpush-policy.5"):
        text = " ".join(read("docs", "man", page + ".scd").split())
        assert "regular file of at most 1 MiB" in text, page


def test_readme_says_where_the_openapi_document_is():
    """The demo and the tests need the OpenAPI document the emulator reads: README's first
    section says where it is looked for."""
    source = read("tests", "emulator", "vpush_emulator", "openapi.py")
    env = re.search(r'^ENV = "(\w+)"$', source, re.M).group(1)
    # default_spec_path(): the parts joined to the directory above the repository's root
    function = source.split("def default_spec_path", 1)[1].split("\n\n", 1)[0]
    path = "/".join(re.findall(r'"([\w.]+)"', function.split("repo_root, os.pardir,", 1)[1]))
    assert path == "shared/spec/twilio_verify_v2.json", path
    section = read("README.md").split("\n## Two commands\n", 1)[1].split("\n## ", 1)[0]
    assert "`%s` beside the repository's" % path in " ".join(section.split()), section
    assert "`$%s`" % env in section, section


def test_proxy_variables_are_those_curl_reads_for_https():
    """vpushd(8) names the proxy variables libcurl reads for vpushd's requests, and no
    other. Every request that may go through a proxy is https: plain http is taken only
    to a loopback host, and that is never proxied (vpush-http-request.c). libcurl reads
    https_proxy, then HTTPS_PROXY, then all_proxy or ALL_PROXY for https, never http_proxy
    (test-http checks it): a page that names http_proxy has a user behind a proxy set only
    that one, and vpushd then goes direct."""
    assert 'SETOPT (CURLOPT_PROXY, "");' in read("daemon", "vpush-http-request.c")
    entries = [line for line in man_section("vpushd.8", "ENVIRONMENT").splitlines()
               if line.startswith("*") and "_proxy*" in line.lower()]
    assert len(entries) == 1, entries
    assert set(re.findall(r"\*(\w+)\*", entries[0])) == {
        "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"}, entries
