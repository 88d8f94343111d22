"""Map `/opt/ml/` to a local folder in a job's Python processes (SageMaker's mount, emulated).

The harness puts this folder on PYTHONPATH and sets MDLC_HARNESS_OPT_ML for job
subprocesses, so job scripts whose default paths are `/opt/ml/...` literals read and
write the job's temp folder instead; child Python processes (the training toolkit runs
the user script as one) inherit it. Python-level file APIs (open, os.*, pathlib, which
builds on them) are remapped; C libraries opening `/opt/ml` paths themselves are not.

A job or model with EnableNetworkIsolation (MDLC_HARNESS_NETWORK_ISOLATION set to its name)
gets no network, as in SageMaker: an audit hook refuses every name lookup and connection
that is not the loopback interface, in this process and its Python children. The harness
gives no job AWS credentials, so an AWS SDK call fails first with NoCredentialsError, as it
does in an isolated container.
Standard library only.
"""

import builtins
import functools
import io
import os
import sys

_ROOT = os.environ.get("MDLC_HARNESS_OPT_ML")
_PREFIX = "/opt/ml"


def _map(path):
    if isinstance(path, int):
        return path
    try:
        text = os.fspath(path)
    except TypeError:
        return path
    if isinstance(text, bytes):
        mapped = _map(text.decode())
        return mapped.encode() if isinstance(mapped, str) else path
    if text == _PREFIX or text.startswith(_PREFIX + "/"):
        return _ROOT + text[len(_PREFIX):]
    return path


def _wrap(function, positions):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        args = [(_map(arg) if index in positions else arg) for index, arg in enumerate(args)]
        return function(*args, **kwargs)

    return wrapper


def _install():
    opener = _wrap(builtins.open, {0})
    builtins.open = opener
    io.open = opener
    single = ("stat", "lstat", "open", "listdir", "scandir", "mkdir", "remove", "unlink",
              "rmdir", "access", "chmod", "utime", "readlink", "truncate", "chdir")
    for name in single:
        if hasattr(os, name):
            setattr(os, name, _wrap(getattr(os, name), {0}))
    for name in ("rename", "replace", "link", "symlink"):
        setattr(os, name, _wrap(getattr(os, name), {0, 1}))


_ISOLATED = os.environ.get("MDLC_HARNESS_NETWORK_ISOLATION")
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "")


def _host(event, args):
    if event == "socket.getaddrinfo":
        return args[0]
    address = args[1]  # socket.connect: (socket, address)
    return address[0] if isinstance(address, tuple) else None  # a Unix socket path is local


def _refuse_network(event, args):
    if event not in ("socket.getaddrinfo", "socket.connect"):
        return
    host = _host(event, args)
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host in _LOOPBACK:
        return
    raise OSError(f"EnableNetworkIsolation: {_ISOLATED} has no network (refused {event} to {host!r}); "
                  "SageMaker delivers inputs as channels and the model as ModelDataUrl, the container "
                  "reaches nothing itself")


if _ROOT:
    _install()
if _ISOLATED:
    sys.addaudithook(_refuse_network)
