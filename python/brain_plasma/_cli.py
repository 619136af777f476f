"""The `brain` command of a pip install: the console script `brain` and
``python -m brain_plasma`` run the C program brain_plasma/_bin/brain (built
by setup.py from cli/*.c and src/*.c, the same sources as `make cli`'s
build/brain).

The program is exec'd, not called in this process: it then is build/brain,
with the same process id, stdin/stdout/stderr, exit status, signal handling
(`brain serve` takes SIGTERM/SIGINT itself, `brain watch` dies on Ctrl-C,
`brain get | head` dies on SIGPIPE) and `--help`.  Python ignores SIGPIPE
and SIGXFSZ, and an ignored signal stays ignored across exec, so both go
back to their defaults first."""
import os
import signal
import sys

__all__ = ["main", "executable"]


def executable():
    """The path of the `brain` program inside the package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bin", "brain")


def main(argv=None):
    """Replaces this process with `brain ARGV...` (default: sys.argv[1:]);
    returns only when the program cannot be started (exit status 1)."""
    args = sys.argv[1:] if argv is None else list(argv)
    exe = executable()
    for name in ("SIGPIPE", "SIGXFSZ"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)
    try:
        os.execv(exe, ["brain", *args])
    except OSError as exc:
        sys.stderr.write(
            "brain: cannot run %s: %s. The package was installed without its "
            "`brain` program; reinstall it (pip install --force-reinstall "
            "brain-plasma), or build it from source with `make cli`\n"
            % (exe, exc.strerror or exc))
        return 1
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
