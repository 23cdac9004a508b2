"""SR-NAM demo: the Hugging Face Space entry point.

    python app.py                                # the shipped checkpoints/default, on http://127.0.0.1:7860
    python app.py --model user/srnam-faces       # a Hub repo id (or set SRNAM_MODEL), or a pipeline folder
    python app.py --host 0.0.0.0 --port 8080 --share

On a Space, Gradio sets GRADIO_SERVER_NAME/GRADIO_SERVER_PORT, which become the defaults of --host/--port.
"""
from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a temporary public link")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model is None and not DEFAULT_MODEL.is_dir():
        print(f"error: no model to serve: the default folder {DEFAULT_MODEL} does not exist (the trained "
              f"checkpoints are not in this copy). Pass --model <Hub repo id or pipeline folder>, or set "
              f"SRNAM_MODEL.", file=sys.stderr)
        return 2
    # Imported here so that --help and the error above are instant (gradio and torch take seconds to load).
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
    launch(demo, limits, notice, host=args.host, port=args.port, share=args.share)
    demo.block_thread()  # until Ctrl+C
    return 0


if __name__ == "__main__":
    sys.exit(main())
