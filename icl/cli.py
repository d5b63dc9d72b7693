"""Shared command-line plumbing: one-line errors with exit status 2, logging setup."""

from __future__ import annotations

import os
import re
import sys
from typing import Callable

from absl import app, flags, logging

USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR, prefix: str = "error") -> None:
  """Prints `<prefix>: <message>` as one line on stderr and exits with `code`
  (default 2, a usage error)."""
  print(f"{prefix}: " + " ".join(str(message).split()), file=sys.stderr)
  sys.exit(code)


def _describe(e: Exception) -> str:
  """One line from an exception whose text may hold a whole traceback."""
  text = str(e).strip().strip("'\"").replace("\\n", " ").replace("\\'", "'")
  if "Traceback" in text:  # config_flags embeds the config file's traceback
    prefix = text.split(":", 1)[0]
    last = re.findall(r"\b\w+Error: (.*)", text)
    text = f"{prefix}: {last[-1]}" if last else text
  return re.sub(r"\s+", " ", text)


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing whose every failure (unknown config field, wrong type,
  bad config file or variant) is one line and exit status 2."""
  try:
    rest = flags.FLAGS(argv)
    if "config" in flags.FLAGS:
      getattr(flags.FLAGS.config, "keys", None)  # config_flags defers file errors
    return rest
  except OSError as e:
    missing = re.findall(r"Attempted \[[^]]*\]:\s*(\S+)\s*\[Errno \d+\] ([^:]+)", str(e))
    fail(f"--config: {missing[0][0]}: {missing[0][1]}" if missing else _describe(e))
  except flags.Error as e:
    fail(_describe(e))
  except (AttributeError, KeyError) as e:  # an override of an unknown config field
    fail(f"unknown config field: {_describe(e)}")
  except (ValueError, TypeError) as e:
    fail(_describe(e))
  return []


def setup_logging(level: int = logging.INFO) -> None:
  """`level` for icl; orbax's per-save chatter only at WARNING and above."""
  logging.set_verbosity(level)
  logging.get_absl_handler().addFilter(
      lambda r: r.levelno >= 30 or "/orbax/" not in r.pathname)


def switched_off(variable: str) -> bool:
  """Whether the environment variable turns a default-on behaviour off (0/false/off/no)."""
  return os.environ.get(variable, "1").lower() in ("0", "false", "off", "no")


MIN_COMPILE_SECONDS = 0.0  # programs compiling faster than this are not cached


def compilation_cache_dir() -> str | None:
  """Where the entry points keep JAX's persistent compilation cache: the user's
  cache directory (``$XDG_CACHE_HOME/icl/jax``, else ``~/.cache/icl/jax``), or
  ``$JAX_COMPILATION_CACHE_DIR`` when set; None when ``ICL_COMPILATION_CACHE=0``."""
  if switched_off("ICL_COMPILATION_CACHE"):
    return None
  if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    return os.environ["JAX_COMPILATION_CACHE_DIR"]
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "icl", "jax")


def enable_compilation_cache() -> str | None:
  """Turns JAX's persistent compilation cache on (a rerun of the same program skips
  XLA's compile); returns its directory. Opt out with ICL_COMPILATION_CACHE=0."""
  directory = compilation_cache_dir()
  if directory is None:
    return None
  import jax
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError:
    return None  # an unwritable home: run without the cache
  jax.config.update("jax_compilation_cache_dir", directory)
  # Every program, the start-up's small ones too (10-40 ms of compile each against a
  # few ms to read); JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS overrides.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", float(
      os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", MIN_COMPILE_SECONDS)))
  return directory


def run(main: Callable[[list[str]], None], fast_exit: bool = False) -> None:
  """absl's app.run with one-line flag errors and the compilation cache on.

  With `fast_exit` (`python -m icl.train`), a finished process leaves through
  `os._exit` with main's exit status, after flushing stdout, stderr and the logs:
  the interpreter's own teardown (jax's backends, orbax's and XLA's thread pools,
  garbage collection of the run's arrays) costs 0.4-0.7 s of every run on a 2-core
  CPU and writes nothing. main must have closed what it wrote (the trainer closes
  its metrics writer and waits for its checkpoint saves in `finally`). Not used for
  a multi-process jax run (its shutdown is a barrier of all processes), nor after an
  uncaught exception (Python prints the traceback as usual); ICL_FAST_EXIT=0 turns
  it off (e.g. for coverage, which writes its data at interpreter exit).
  """
  def with_cache(argv):
    enable_compilation_cache()
    return main(argv)
  fast_exit = fast_exit and not switched_off("ICL_FAST_EXIT")
  try:
    app.run(with_cache, flags_parser=parse_flags)
  except SystemExit as e:  # app.run always ends here: sys.exit(main(argv))
    if fast_exit:
      _exit_now(e)
    raise


def _multiprocess() -> bool:
  """Whether this process is one of several jax processes (asks without starting a
  backend: an error exit before jax ran must not initialise a GPU)."""
  jax = sys.modules.get("jax")
  if jax is None:
    return False
  try:
    from jax._src import distributed, xla_bridge
  except ImportError:  # another jax layout: ask the public API
    return jax.process_count() > 1
  if getattr(distributed.global_state, "client", None) is not None:
    return True
  return xla_bridge.backends_are_initialized() and jax.process_count() > 1


def _exit_now(e: SystemExit) -> None:
  """os._exit with SystemExit's status (after the flushes), unless jax runs in
  several processes; returns when it does not exit."""
  if _multiprocess():
    return
  code = e.code
  if code is not None and not isinstance(code, int):  # sys.exit("message")
    print(code, file=sys.stderr)
    code = 1
  logging.flush()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code or 0)
