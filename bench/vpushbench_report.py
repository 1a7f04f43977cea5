"""The report of bench/run: the table (each figure beside its baseline, the ratio, the
target), the context lines under it, the machine it ran on, and bench/RESULTS.md as
--record writes it. bench/run measures (its Bench's results); this turns them into text.
"""

import os
import platform
import subprocess
import time

import vpushbench as vb

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
MIB = 1024 * 1024
# what follows this line in bench/RESULTS.md is written by hand and kept by --record
NOTES_MARKER = "<!-- notes: kept by bench/run --record -->"
TARGETS = {"approve_post": 1.3, "approve_sdk": 0.5, "push": 2.0, "startup": 3.0,
           "rss_mib": 16.0}


def ratio_row(figure, value, baseline, base_label, target):
    r = value / baseline
    verdict = ("met" if r <= target else "**not met**") if target else ""
    return [figure, vb.ms(value), "%s %s" % (base_label, vb.ms(baseline)), "%.2f×" % r,
            ("≤ %g×" % target) if target else "report", verdict]


def timed_rows(S, where=""):
    rows = []
    for q in ("p50", "p99"):
        rows.append(ratio_row("silent approval, challenge cached: ApproveChallenge call → reply, "
                              + q + where, getattr(S["approve"], q), getattr(S["post"], q),
                              "one bare POST of an answer", TARGETS["approve_post"]))
    for q in ("p50", "p99"):
        rows.append(ratio_row("the same vs the SDK's flow, " + q + where,
                              getattr(S["approve"], q), getattr(S["sdk"], q),
                              "bare GET, POST, GET", TARGETS["approve_sdk"]))
    for q in ("p50", "p99"):
        rows.append(ratio_row("push-to-export: hint published → Challenge on the bus, " + q
                              + where, getattr(S["push"], q), getattr(S["push_get"], q),
                              "bare single GET as a device makes it", TARGETS["push"]))
    return rows


def markdown(rows):
    head = ["figure", "vpushd", "baseline (same run)", "ratio", "target", ""]
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(r) + " |" for r in rows])


def report(b, args, started):
    R = b.results
    emu, fix, far = R["emulator"], R["fixed"], R["rtt"]
    # the emulator is "slower than the daemon" when answering an approval takes it longer
    # than what vpushd adds to that answer
    emu_server = emu["post"].p50
    emu_daemon = emu["approve"].p50 - emu["post"].p50
    use_fixed = emu_server > emu_daemon
    S = fix if use_fixed else emu
    server_name = "bench/fixed-server" if use_fixed else "the emulator"
    rows = timed_rows(S)
    st = R["startup"]
    rows.append(ratio_row("start-up: exec → name owned and READY=1, 10 factors, p50",
                          st["vpushd"].p50, st["owner"].p50, "minimal GDBus name owner",
                          TARGETS["startup"]))
    idle = R["idle"]
    per_min = 60.0 / idle["seconds"]
    expected = idle["keepalives"] + idle["polls"] + idle["other"]
    rows.append(["idle wake-ups per minute, push connected, nothing happening",
                 "%.0f" % (idle["wakeups"] * per_min),
                 "keepalives + polls %.0f" % (expected * per_min),
                 ("%.2f×" % (idle["wakeups"] / expected)) if expected else "—",
                 "no wake-up beyond them",
                 "met" if idle["wakeups"] <= expected else "**not met**"])
    mem = R["memory"]
    floor = mem["floor"]
    rows.append(["memory: RSS after 100 factors and %d pending challenges" % mem["pending"],
                 "%.1f MiB" % (mem["rss"]["VmRSS"] / MIB),
                 "vpushd's libraries, each used once %.1f MiB" % (floor["VmRSS"] / MIB),
                 "%.2f×" % (mem["rss"]["VmRSS"] / floor["VmRSS"]), "≤ 16 MiB",
                 "met" if mem["rss"]["VmRSS"] <= TARGETS["rss_mib"] * MIB else "**not met**"])
    cpu = R["cpu"]
    rows.append(["daemon CPU per approval (callgrind, instructions)",
                 "%.2f M" % (cpu["approval"] / 1e6),
                 "one ECDSA P-256 signature %.2f M" % (cpu["signature"] / 1e6),
                 "%.1f×" % (cpu["approval"] / cpu["signature"]), "report", ""])

    lines = []
    lines.append("Server for the timed figures: %s. The emulator answers a POST in %s (p50, "
                 "round trip) and vpushd adds %s to an approval: the emulator is %s than the "
                 "daemon%s."
                 % (server_name, vb.ms(emu_server), vb.ms(max(emu_daemon, 0)),
                    "slower" if use_fixed else "faster",
                    ", so a fixed-response server (bench/fixed-server) answers the baselines "
                    "and vpushd alike" if use_fixed else ""))
    lines.append("")
    lines += markdown(rows)
    lines.append("")
    lines.append("The same three timed figures with a %g ms network round trip (the fixed-"
                 "response server holds every answer %g ms, a hint %g ms), as from a desktop "
                 "to the Verify API; %d approvals, %d push samples:"
                 % (args.rtt_ms, args.rtt_ms, args.rtt_ms / 2, far["approve"].n, far["push"].n))
    lines.append("")
    lines += markdown(timed_rows(far, ", %g ms RTT" % args.rtt_ms))
    lines.append("")
    lines.append("Context (p50, p99):")
    O = emu if use_fixed else fix
    other_name = "the emulator" if use_fixed else "bench/fixed-server"
    lines.append("- the floor of an approval on loopback: one D-Bus round trip (Ping of the "
                 "minimal GDBus program, %s) + one bare POST = %s; vpushd's own time on top "
                 "(approval − POST − Ping): %s"
                 % (S["ping"], vb.ms(S["ping"].p50 + S["post"].p50),
                    vb.ms(S["approve"].p50 - S["post"].p50 - S["ping"].p50)))
    lines.append("- the same floor against the SDK's flow: %.2f× (the target is ≤ %g×)"
                 % ((S["ping"].p50 + S["post"].p50) / S["sdk"].p50, TARGETS["approve_sdk"]))
    # each Nop right after its Ping: the median of the pairs' differences
    handoff = vb.percentile([n - p for n, p in zip(S["nop"].values, S["ping"].values)], 50)
    lines.append("- GDBus answers the Ping in its own thread. A method answered in the "
                 "minimal program's main thread, as vpushd answers ApproveChallenge, takes %s; "
                 "GDBus's hand-offs between its thread and the main loop, which every call of "
                 "a GDBus service pays, are the difference (median of the pairs): %s; "
                 "vpushd's own time beyond the call (approval − POST − that call): %s"
                 % (S["nop"], vb.ms(handoff),
                    vb.ms(S["approve"].p50 - S["post"].p50 - S["nop"].p50)))
    push_floor = S["hint"].p50 + S["push_get"].p50 + S["ping"].p50 / 2
    lines.append("- the floor of push-to-export on loopback: a bare push client hears a hint "
                 "(publish → its data on an SSE stream, %s) + the GET + half a D-Bus round "
                 "trip for the signal = %s, %.2f× the GET (the target is ≤ %g×); vpushd's own "
                 "time on top: %s"
                 % (S["hint"], vb.ms(push_floor), push_floor / S["push_get"].p50,
                    TARGETS["push"], vb.ms(S["push"].p50 - push_floor)))
    pw = R["push_work"]
    work = pw["sign"] + pw["parse"] + pw["signal"]
    lines.append("- the work of the protocol and of vpushd's libraries on that path "
                 "(bench/push-work, medians of 2000 in one thread, warm caches): the device "
                 "JWT's P-256 signature %s, the GET's response parsed by json-glib %s, the "
                 "InterfacesAdded message (%d bytes) serialised by GDBus %s; together %s. The "
                 "floor with it: %s, %.2f× the GET; %.2f× without the signature, which a "
                 "daemon could make ahead only while a factor's last device JWT is valid "
                 "(600 s, §5A)"
                 % (vb.ms(pw["sign"]), vb.ms(pw["parse"]), pw["signal_bytes"],
                    vb.ms(pw["signal"]), vb.ms(work), vb.ms(push_floor + work),
                    (push_floor + work) / S["push_get"].p50,
                    (push_floor + work - pw["sign"]) / S["push_get"].p50))
    lines.append("- against %s: approval %s; bare POST %s (%.2f×); SDK flow %s (%.2f×); "
                 "push %s vs GET %s (%.2f×)"
                 % (other_name, O["approve"], O["post"], O["approve"].p50 / O["post"].p50,
                    O["sdk"], O["approve"].p50 / O["sdk"].p50, O["push"], O["push_get"],
                    O["push"].p50 / O["push_get"].p50))
    lines.append("- start-up: vpushd %s; minimal name owner %s (%d starts each, alternating). "
                 "vpushd maps %s shared objects (libcurl's and libsecret's) before main(), "
                 "the name owner %s; it takes the name once its factors are read, while the "
                 "Secret Service connects"
                 % (st["vpushd"], st["owner"], st["vpushd"].n,
                    n_libraries(b.vt.vpushd_path()),
                    n_libraries(os.path.join(b.bench_dir, "name-owner"))))
    lines.append("- memory (VmRSS), vpushd talking to the emulator over HTTPS as deployed "
                 "(push stream too; [Verify] CaFile: the system's %d CAs and the test CA): "
                 "%.1f MiB with 10 factors, %.1f MiB with 100, %.1f MiB with 100 and %d "
                 "pending: anonymous %.1f MiB, file-backed (shared libraries) %.1f MiB; peak "
                 "%.1f MiB"
                 % (b.pki.system_cas, mem["rss_10"]["VmRSS"] / MIB,
                    mem["rss_100"]["VmRSS"] / MIB, mem["rss"]["VmRSS"] / MIB, mem["pending"],
                    mem["rss"]["RssAnon"] / MIB, mem["rss"]["RssFile"] / MIB,
                    mem["rss"]["VmHWM"] / MIB))
    lines.append("- the floor of the memory figure: bench/lib-floor links what vpushd links "
                 "and uses each library once as vpushd does (owns a bus name, opens the Secret "
                 "Service with an encrypted session, one P-256 signature, one GET with "
                 "libcurl over HTTPS with the same CA file, its JSON parsed, READY=1), then "
                 "waits: %.1f MiB (anonymous %.1f, "
                 "file-backed %.1f; median of 3 runs); vpushd's own on top: %.1f MiB "
                 "(anonymous %.1f, file-backed %.1f)"
                 % (floor["VmRSS"] / MIB, floor["RssAnon"] / MIB, floor["RssFile"] / MIB,
                    (mem["rss"]["VmRSS"] - floor["VmRSS"]) / MIB,
                    (mem["rss"]["RssAnon"] - floor["RssAnon"]) / MIB,
                    (mem["rss"]["RssFile"] - floor["RssFile"]) / MIB))
    s = idle["strace"]
    lines.append("- idle: %d wake-ups in %.0f s (/proc/PID/task/*/schedstat, %d threads%s), "
                 "counted after %.0f s of quiet; the server sent %d keepalives (every %g s), "
                 "%d polls, %d other requests; strace -c -f over %.0f s: %s"
                 % (idle["wakeups"], idle["seconds"], idle["threads"][1],
                    ", %d exited meanwhile" % idle["exited"] if idle["exited"] else "",
                    args.idle_settle, idle["keepalives"], args.keepalive, idle["polls"],
                    idle["other"], idle["strace_seconds"],
                    ", ".join("%s %d" % kv for kv in sorted(s.items(), key=lambda kv: -kv[1])[:5])
                    if s else "strace not available"))
    lines.append("- CPU: %d approvals counted (callgrind_control -i on/off around them), all "
                 "threads of vpushd, not the bus daemon's or the server's work. Profile: "
                 "callgrind_annotate %s"
                 % (cpu["n"], os.path.relpath(os.path.join(b.bench_dir,
                                                           "callgrind.out.approvals"),
                                              SOURCE_DIR)))
    lines.append("- timed by bench/bench-client (C: sd-bus for D-Bus, one kept-alive socket "
                 "for HTTP); the baselines' answers are signed, and a device JWT minted for "
                 "each of their requests, before the clock starts; vpushd's figure includes "
                 "its signature and its JWT.")
    lines.append("- perf: %s; strace: %s; valgrind: %s."
                 % (tool_note("perf"), tool_note("strace"), tool_note("valgrind")))
    lines.append("- load average %s at the start, %s at the end (other work on this machine "
                 "shows in the p99s)." % (b.load[0], load_average()))
    lines.append("")
    lines.append("Run took %.0f s." % (time.monotonic() - started))
    return use_fixed, S, "\n".join(lines)


def n_libraries(exe):
    try:
        out = subprocess.run(["ldd", exe], capture_output=True, text=True, timeout=20).stdout
        return str(len(out.splitlines()))
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def tool_note(tool):
    if tool == "perf":
        try:
            r = subprocess.run(["perf", "stat", "-x,", "-e", "instructions:u", "true"],
                               capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return "not installed"
        if "not supported" in r.stderr or r.returncode != 0:
            return "`perf stat -e instructions` not supported here (no PMU), so callgrind counts"
        return "available"
    try:
        r = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=20)
        return (r.stdout or r.stderr).splitlines()[0].strip()
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "not installed"


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d CPUs (nproc), %s, Linux %s" % (os.cpu_count() or 0, model, platform.release())


def write_results(header, text):
    """bench/RESULTS.md: the header and the text, then the notes kept from the file as it
    was (from NOTES_MARKER on). Returns its path."""
    path = os.path.join(HERE, "RESULTS.md")
    notes = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER):]
    with open(path, "w") as f:
        f.write("# Benchmark results\n\n")
        f.write("Written by `bench/run --record` (bench/README.md). Every figure is beside "
                "its baseline, measured in the same run.\n\n")
        f.write("- " + header.strip().replace("\n", "\n- ") + "\n\n")
        f.write(text + "\n")
        if notes:
            f.write("\n" + notes)
    return path
