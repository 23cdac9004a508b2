"""SR-NAM demo: the Hugging Face Space entry point.

    python app.py                                # the shipped checkpoints/default, on http://127.0.0.1:7860
    python app.py --model user/srnam-faces       # a Hub repo id (or set SRNAM_MODEL), or a pipeline folder
    python app.py --host 0.0.0.0 --port 8080 --share

On a Space, Gradio sets GRADIO_SERVER_NAME/GRADIO_SERVER_PORT, which become the defaults of --host/--port.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "checkpoints" / "default"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the SR-NAM demo (Gradio).")
    parser.add_argument("--model", default=os.environ.get("SRNAM_MODEL"),
                        help="Hub repo id or pipeline folder (default: $SRNAM_MODEL, else the shipped "
                             f"{DEFAULT_MODEL.relative_to(DEFAULT_MODEL.parents[1])})")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=os.environ.get("GRADIO_SERVER_PORT", "7860"),
                        help="port to listen on (default: $GRADIO_SERVER_PORT, else 7860)")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a temporary public link")
    return parser.parse_args(argv)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {port}")
    return port


def port_in_use(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (e.g. another server has it), or None if it can."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as err:
            return err.strerror or str(err)
    return None


def _port_error(host: str, port: int, why: str) -> str:
    return f"error: cannot listen on {host}:{port} ({why}): pass another port with --port, or stop what uses it"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model is None and not DEFAULT_MODEL.is_dir():
        print(f"error: no model to serve: the default folder {DEFAULT_MODEL} does not exist (the trained "
              f"checkpoints are not in this copy). Pass --model <Hub repo id or pipeline folder>, or set "
              f"SRNAM_MODEL.", file=sys.stderr)
        return 2
    if (why := port_in_use(args.host, args.port)) is not None:  # before the slow imports and the model load
        print(_port_error(args.host, args.port, why), file=sys.stderr)
        return 2
    # Imported here so that --help and the errors above are instant (gradio and torch take seconds to load).
    from demo import Limits, ServerNotice, build_demo, launch
    from srnam import ModelLoadError, SRNAMPipeline

    model = args.model or str(DEFAULT_MODEL)
    try:
        pipe = SRNAMPipeline.from_pretrained(model)
    except ModelLoadError as err:
        print(f"error: cannot load the model {model}: {err}", file=sys.stderr)
        return 2
    print(f"model: {model} (device: {pipe.device})", flush=True)
    limits, notice = Limits(), ServerNotice()
    demo = build_demo(pipe, limits, notice)
    try:
        launch(demo, limits, notice, host=args.host, port=args.port, share=args.share)
    except OSError as err:  # taken between the check and the launch; Gradio's message names its own variables
        print(_port_error(args.host, args.port, "in use" if "port" in str(err) else str(err)), file=sys.stderr)
        return 2
    demo.block_thread()  # until Ctrl+C
    return 0


if __name__ == "__main__":
    sys.exit(main())
