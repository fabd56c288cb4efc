"""The ``oas-mcp`` command, and ``python -m oas_mcp``: :func:`run`."""

import gc


def run() -> int:
    """The command line (:func:`oas_mcp.cli.main.main`), loaded with garbage collection off.

    Loading makes objects that live as long as the process (modules, classes, schemas): collecting among them finds
    nothing and takes about a fifteenth of start-up (``bench/startup.py``). What loading made is then left out of
    later collections (``gc.freeze``), which would otherwise walk it all again, in the middle of a tool call.
    """
    gc.disable()
    try:
        from oas_mcp.cli.main import main  # noqa: PLC0415 - imported here, with garbage collection off
    finally:
        gc.freeze()
        gc.enable()
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
