"""The guarantee: a check that escaped the evaluator still cannot touch the machine.

These tests run plain Python, not asteval, in a real worker process started and
confined exactly as the build starts its check workers, as an attacker who has
already escaped the evaluator (say through a memory bug in numpy) would. Every
attempt to reach the machine must fail with EPERM, the environment must hold nothing
of the build's, and only plain data may come back through the pipe.
"""

from __future__ import annotations

import errno
import json
import os
import select
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from build_deck.verify import sandbox
from build_deck.verify.sandbox import MAX_MESSAGE_LENGTH, MEMORY_LIMIT, Outcome, pool, run_checks
from tests.conftest import Project

SECRET = "correct horse battery staple"

ESCAPED = r"""
import ctypes, errno, json, mmap, os, socket, sys
import pyseccomp
from build_deck.verify.sandbox.confinement import prepare_worker
from build_deck.verify.sandbox.wire import _send_frame

# System call numbers of this architecture, for the calls Python has no function for.
NAMES = ("connect", "ptrace", "kill", "clone")
NR = {name: pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) for name in NAMES}

read_fd, write_fd, memory_limit = map(int, sys.argv[1:4])
at_start = dict(os.environ)
prepare_worker(read_fd, write_fd, memory_limit, confine=sys.argv[4] == "1")
libc = ctypes.CDLL(None, use_errno=True)
found = {"environment at start": at_start, "environment": dict(os.environ)}

def attempt(name, action):
    try:
        action()
        found[name] = "succeeded"
    except OSError as exc:
        found[name] = exc.errno

def raw(name, *args):
    def call():
        ctypes.set_errno(0)
        if libc.syscall(*args) == -1:
            raise OSError(ctypes.get_errno(), name)
    attempt(name, call)

paths = json.loads(sys.argv[5])
attempt("read a file", lambda: open(paths["secret"]).read())
attempt("read /etc/passwd", lambda: open("/etc/passwd").read())
attempt("read its own environment", lambda: open("/proc/self/environ").read())
attempt("write a file", lambda: open(paths["target"], "w").write("pwned"))
attempt("list a folder", lambda: os.listdir("/"))
attempt("execve", lambda: os.execv("/bin/sh", ["sh", "-c", "id > " + paths["target"]]))
attempt("fork", os.fork)
attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("socketpair", socket.socketpair)
# connect(2) on a descriptor it holds: EPERM from the filter, not ENOTSOCK from the kernel.
raw("connect", NR["connect"], read_fd, 0, 0)
raw("ptrace", NR["ptrace"], 16, os.getppid(), 0, 0)
raw("kill the build", NR["kill"], os.getppid(), 0)
raw("clone a process", NR["clone"], 17, 0, 0, 0, 0)
attempt("write to stderr", lambda: os.write(2, b"leak"))
attempt("executable memory", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC))
_send_frame(write_fd, found)
"""


def receive(worker: sandbox._Worker, timeout: float = 60.0) -> list[Any]:
    """The messages a worker sends before it exits or ``timeout`` passes."""
    messages: list[Any] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not select.select([worker.results], [], [], end - time.monotonic())[0]:
            break
        try:
            messages += sandbox._receive(worker)
        except sandbox._WorkerFault:
            break
    sandbox._stop(worker)
    return messages


@pytest.fixture(scope="module")
def escaped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What an attacker running arbitrary Python in a confined worker found out."""
    folder = tmp_path_factory.mktemp("escaped")
    secret = folder / "secret.txt"
    secret.write_text(SECRET)
    target = folder / "pwned.txt"
    paths = json.dumps({"secret": str(secret), "target": str(target)})
    program = ESCAPED.replace("json.loads(sys.argv[5])", repr(paths).join(["json.loads(", ")"]))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("BUILD_DECK_TEST_SECRET", SECRET)
        worker = sandbox._spawn(MEMORY_LIMIT, True, program)
    messages = receive(worker)
    assert messages[0] == {"ready": True}
    found: dict[str, Any] = messages[1]
    found["wrote the target"] = target.exists()
    return found


ATTEMPTS = [
    "read a file",
    "read /etc/passwd",
    "read its own environment",
    "write a file",
    "list a folder",
    "execve",
    "fork",
    "socket",
    "socketpair",
    "connect",
    "ptrace",
    "kill the build",
    "clone a process",
    "write to stderr",
    "executable memory",
]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_escaped_code_cannot_reach_the_machine(escaped: dict[str, Any], attempt: str) -> None:
    assert escaped[attempt] == errno.EPERM
    assert escaped["wrote the target"] is False


def test_escaped_code_finds_an_empty_environment(escaped: dict[str, Any]) -> None:
    at_start = escaped["environment at start"]
    # Python itself adds LC_CTYPE (PEP 538) to an environment without a locale.
    assert set(at_start) <= {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "LC_CTYPE"}
    assert SECRET not in json.dumps(at_start)
    assert escaped["environment"] == {}


def test_unconfined_worker_is_not_confined(tmp_path: Path) -> None:
    """The same attack without the filter succeeds: the tests above test the filter."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    paths = json.dumps({"secret": str(secret), "target": str(tmp_path / "pwned.txt")})
    program = ESCAPED.replace("json.loads(sys.argv[5])", repr(paths).join(["json.loads(", ")"]))
    # Leave out what would harm the test run: a fork or a clone would answer twice,
    # ptrace would stop the test runner, exec would end the program.
    for name in ("fork", "execve", "kill the build", "ptrace", "clone a process"):
        program = "\n".join(
            line
            for line in program.splitlines()
            if not (line.startswith(("attempt(", "raw(")) and f'"{name}"' in line)
        )
    found = receive(sandbox._spawn(MEMORY_LIMIT, False, program))[1]
    assert found["read a file"] == "succeeded"
    assert found["socket"] == "succeeded"
    assert found["connect"] == errno.ENOTSOCK


def test_worker_environment_passes_only_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILD_DECK_TEST_SECRET", SECRET)
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "262144")
    assert sandbox._worker_environment() == {
        "OPENBLAS_CORETYPE": "Prescott",
        "OPENBLAS_L2_SIZE": "262144",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    monkeypatch.delenv("OPENBLAS_L2_SIZE")
    assert sandbox._worker_environment() == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def test_workers_hold_only_their_pipes_and_the_standard_streams() -> None:
    run_checks(["answer = 1"], workers=1)
    [worker] = [w for w in sandbox._pools[(MEMORY_LIMIT, True)] if w.ready][:1]
    pid = worker.process.pid
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    assert len(fds) == 5  # 0-2 on /dev/null, the job pipe and the result pipe
    for fd in fds[:3]:
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
    status = Path(f"/proc/{pid}/status").read_text()
    assert "NoNewPrivs:\t1" in status
    assert "Seccomp:\t2" in status  # filter mode


# -- Only plain data comes back ----------------------------------------------------------

# A worker that has been taken over answers each job with whatever the attacker wants.
LYING = r"""
import os, sys, time
from build_deck.verify.sandbox.confinement import prepare_worker
from build_deck.verify.sandbox.wire import _read_frame, _send_bytes, _frame

read_fd, write_fd, memory_limit = map(int, sys.argv[1:4])
prepare_worker(read_fd, write_fd, memory_limit, confine=True)
while _read_frame(read_fd) is not None:
    REPLY
"""

GOOD_FIELDS: dict[str, Any] = {
    "answer": 4,
    "has_answer": True,
    "tol": None,
    "rtol": None,
    "asserts": 0,
    "error": None,
    "error_line": None,
    "formula": [],
    "still": [],
    "members": [],
}


def lie(reply: str) -> str:
    return LYING.replace("REPLY", textwrap.indent(textwrap.dedent(reply), "    ").strip())


@pytest.fixture
def liar(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workers of the next run_checks call run the lying program (their own pool)."""
    yield
    sandbox._close_pools()


def run_lying(monkeypatch: pytest.MonkeyPatch, reply: str, **kwargs: Any) -> Outcome:
    monkeypatch.setattr(pool, "_WORKER_PROGRAM", lie(reply))
    [outcome] = run_checks(["answer = 4"], memory_limit=MEMORY_LIMIT + 1, workers=1, **kwargs)
    return outcome


def good(**changes: Any) -> str:
    return f"_send_bytes(write_fd, _frame({ {**GOOD_FIELDS, **changes}!r}))"


@pytest.mark.usefixtures("liar")
class TestOnlyPlainDataComesBack:
    """A worker under the attacker's control still cannot send the build anything but a
    small outcome of plain data: anything else fails the check, in one line."""

    def test_an_honest_reply_is_taken(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, good())
        assert outcome.error is None and outcome.answer == 4

    def test_formula_points_of_plain_numbers_are_taken(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        point = {"tuple": [{"dict": [["x", 0.5]]}, {"tuple": [1.0]}, 1.0]}
        outcome = run_lying(monkeypatch, good(formula=[point]))
        assert outcome.error is None and outcome.formula[0].bindings == {"x": 0.5}

    def test_formula_points_holding_text_are_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        point = {"tuple": [{"dict": [["x", "os.system"]]}, {"tuple": [1.0]}, 1.0]}
        outcome = run_lying(monkeypatch, good(formula=[point]))
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_chain_members_of_plain_numbers_are_taken(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        members = [[True, 56.0], [True, [1.0, 2.0]], [False, "no value for 'n'"]]
        outcome = run_lying(monkeypatch, good(members=members))
        assert outcome.error is None
        assert outcome.members == ((True, 56.0), (True, [1.0, 2.0]), (False, "no value for 'n'"))

    @pytest.mark.parametrize(
        "members",
        [[[True, "os.system"]], [[False, 3]], [["yes", 1.0]], [[True, 1.0, 2.0]], {"a": 1}],
    )
    def test_chain_members_that_are_not_plain_are_refused(
        self, monkeypatch: pytest.MonkeyPatch, members: Any
    ) -> None:
        outcome = run_lying(monkeypatch, good(members=members))
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_still_names_must_be_text(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, good(still=[{"dict": []}]))
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_a_pickle(self, monkeypatch: pytest.MonkeyPatch) -> None:
        reply = "import pickle; d = pickle.dumps(os.system)\n"
        reply += "_send_bytes(write_fd, len(d).to_bytes(4, 'big') + d)"
        outcome = run_lying(monkeypatch, reply)
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_a_huge_length(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(
            monkeypatch, "_send_bytes(write_fd, b'\\xff\\xff\\xff\\xff' + b'x' * 100000)"
        )
        assert outcome.error == "the check's worker sent a result larger than 256 KiB"

    def test_an_answer_that_is_text(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, good(answer="4"))
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_an_answer_that_is_an_object(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, good(answer={"__class__": "os._wrap_close"}))
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_an_extra_field(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, good(budget_exceeded=True))
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_a_field_of_the_wrong_type(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, good(asserts="many"))
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_an_answer_nested_very_deeply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        reply = (
            "d = b'[' * 60000 + b']' * 60000; _send_bytes(write_fd, len(d).to_bytes(4, 'big') + d)"
        )
        outcome = run_lying(monkeypatch, reply)
        assert outcome.error == "the check's worker sent something that is not a result"

    def test_a_long_message_with_control_characters_and_addresses(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        error = "boom <function f at 0x7f3a2b4c5d60>\n\x1b[2Jforged: error\n" + "x" * 20000
        outcome = run_lying(monkeypatch, good(answer=None, has_answer=False, error=error))
        assert outcome.error is not None
        assert len(outcome.error) <= MAX_MESSAGE_LENGTH
        assert "\n" not in outcome.error and "\x1b" not in outcome.error
        assert "0x7f3a2b4c5d60" not in outcome.error

    def test_two_replies_to_one_job(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, good() + "; " + good(answer=5))
        # The first reply is the outcome; the second, unasked for, ends the worker.
        assert outcome.answer == 4

    def test_a_crash(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, "import ctypes; ctypes.string_at(0)")
        assert outcome.error == "the check crashed its worker (SIGSEGV)"

    def test_silence(self, monkeypatch: pytest.MonkeyPatch) -> None:
        outcome = run_lying(monkeypatch, "time.sleep(60)", time_limit=0.5)
        assert outcome.error == "time limit of 0.5 s exceeded"

    def test_a_worker_that_crashed_is_replaced(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(pool, "_WORKER_PROGRAM", lie("import ctypes; ctypes.string_at(0)"))
        outcomes = run_checks(["answer = 4"] * 3, memory_limit=MEMORY_LIMIT + 1, workers=1)
        assert [o.error for o in outcomes] == ["the check crashed its worker (SIGSEGV)"] * 3


# -- The attacks of the issue that opened this, through a real build ---------------------

RESIZE_EXPLOIT = """
Q: What is 2+2?
A: **4**

```check
x = np.zeros(100)
y = x[:]
x.resize(10000, refcheck=False)
L = [0] * 100
yi = y.view(np.int64)
base = int(yi[0]) - 0x54e888
q = lambda v: v.to_bytes(8, 'little')
L[1] = b"posix\\x00"
name = int(yi[1]) + 32
L[2] = b''.join([q(name), q(base + 0x27ea20), q(1), q(0)])
L[3] = b''.join([q(2**40), q(base + 0x45b000), q(int(yi[2]) + 32), q(name), q(0), q(0), q(0)])
yi[4] = int(yi[3]) + 32
posix = L[4]()
posix.system('id > pwned.txt')
answer = 2 + 2
```
"""


def test_resize_use_after_free_exploit_writes_nothing_and_verifies_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("attack.md", RESIZE_EXPLOIT)
    assert project.run("build", "--no-cache") == 1
    out, err = capsys.readouterr()
    assert "0 verified" in out
    assert "notes/attack.md:" in err and "check failed" in err
    assert "Traceback" not in err
    assert not (project.root / "pwned.txt").exists()
    assert not Path("/pwned.txt").exists()
    assert not project.apkg.exists()


SLOW = "".join(
    f"Q: What is {i}?\nA: **{i}**\n\n```check\nanswer = sum(range(10**12))\n```\n\n"
    for i in range(8)
)
FINE = "Q: What is 2+2?\nA: **4**\n\n```check\nanswer = 2 + 2\n```\n"


def test_slow_checks_stop_at_the_budget_and_name_the_file(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a_fine.md", FINE)
    project.write("slow.md", SLOW)
    assert project.run("build", "--no-cache", "--check-budget", "3") == 1
    out, err = capsys.readouterr()
    stopped = [line for line in err.splitlines() if "checks stopped" in line]
    assert len(stopped) == 1
    assert stopped[0].startswith("notes/slow.md:")
    assert "checks stopped after 3 s" in stopped[0] and "--check-budget" in stopped[0]
    assert "1 verified" in out  # the fine file's card, checked first
    assert not project.apkg.exists()


def test_check_budget_must_be_a_positive_number(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        project.run("build", "--check-budget", "-1")
    assert exit_.value.code == 2
    assert "not a positive number of seconds: '-1'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ("answer = [1e300] * 10000", "card says 4, check computes [1e+300, 1e+300,"),
        ("answer = tuple([2**1023] * 10000)", "the answer is larger than 256 KiB"),
    ],
)
def test_huge_mismatches_give_one_short_line(
    project: Project, capsys: pytest.CaptureFixture[str], check: str, expected: str
) -> None:
    project.write("huge.md", f"Q: What is 2+2?\nA: **4**\n\n```check\n{check}\n```\n")
    assert project.run("build", "--no-cache") == 1
    [line] = [line for line in capsys.readouterr().err.splitlines() if "huge.md" in line]
    assert expected in line
    assert len(line) < 400


# -- Where checks cannot be confined -------------------------------------------------------


@pytest.fixture
def unconfined(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Act as a platform without seccomp (the switch the tests of this path use)."""
    monkeypatch.setenv("BUILD_DECK_CONFINEMENT", "off")
    yield
    sandbox._close_pools()  # no unconfined worker outlives these tests


@pytest.mark.usefixtures("unconfined")
class TestWithoutConfinement:
    """No check runs unconfined unless the user trusts the notes."""

    def test_run_checks_refuses(self) -> None:
        with pytest.raises(sandbox.ConfinementUnavailable, match="switched off"):
            run_checks(["answer = 4"])

    def test_cards_build_unverified_with_one_line(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", FINE + "\n" + FINE.replace("2+2", "3+1"))
        assert project.run("build") == 0
        out, err = capsys.readouterr()
        assert err.splitlines() == [
            "notes/a.md:4: warning: checks not run, 2 checks left unverified: confinement is "
            "switched off (BUILD_DECK_CONFINEMENT=off); pass --trust-checks to run them "
            "unconfined, only for notes you trust"
        ]
        assert "0 verified" in out
        assert project.apkg.exists()

    def test_strict_makes_it_an_error(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", FINE)
        assert project.run("build", "--strict") == 1
        assert "notes/a.md:4: error: checks not run" in capsys.readouterr().err
        assert not project.apkg.exists()

    def test_trust_checks_runs_them(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", FINE)
        assert project.run("build") == 0  # cached unverified ...
        assert project.run("build", "--trust-checks") == 0  # ... and checked once trusted
        out, err = capsys.readouterr()
        assert "1 verified" in out.splitlines()[-1]
        assert err.count("warning") == 1


def test_trust_checks_does_not_unconfine_where_confinement_works(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox._close_pools()
    project.write("a.md", FINE)
    assert project.run("build", "--trust-checks") == 0
    assert "1 verified" in capsys.readouterr().out
    assert list(sandbox._pools) == [(MEMORY_LIMIT, True)]
