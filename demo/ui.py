"""The page: ``build_demo(pipe)`` returns the ``gr.Blocks`` app that the Space (app.py) and the tests serve."""
from __future__ import annotations

from contextlib import aclosing
from pathlib import Path

import gradio as gr

from srnam import SRNAMPipeline
from srnam.faces.lr_input import SMALL_SIDE
from srnam.search import search_learning_rate

from .photo_tab import build_photo_tab
from .search import by_component, cleared, run_search
from .serving import BadRequest, Limits, ServerNotice, StopSwitches, budget_sliders, parse_request

EXAMPLES = Path(__file__).parent / "examples"

INTRO = """\
# SR-NAM: several plausible faces for one tiny face

**One face:** upload a face. SR-NAM shrinks it to a 16×16 low-resolution (LR) image, then searches a face generator
for 64×64 faces that, photographed by a learned low-quality camera model, give back that LR image.
Different random starts give different **candidates**.

**The candidates are invented, not recovered.** A 16×16 image cannot hold identity, skin or expression;
the generator fills those in. Each candidate is a *plausible* face *consistent* with the input (its "LR
projection" matches the input), not the real person. Do not use them to identify anyone.

**Whole photo:** upload a group photo or a crowd. Every face of 12 px and more is found, each gets its
candidates, and the photo comes back enlarged with the faces put in; click a candidate to choose another.
"""

LR_MODE_CHOICES = [
    ("auto: small uploads as they are, photos through the camera model", "auto"),
    ("as-is: the upload already is a small, low-quality face", "as-is"),
    ("degrade: crop the face, simulate a low-quality camera (noise seed below)", "degrade"),
    ("area: crop the face, reduce it by area averaging (a clean LR image)", "area"),
]

HOW_TO_READ = """\
**Reading the grid.** The first column is the face crop made from your photo (when there is one). Then one
column per candidate, best first: the candidate, its LR projection (the candidate through the camera
model), and the LR input it had to match. *LR L1* (lower is better, on a −1…1 scale) and *PSNR* (higher
is better) measure how close each projection is to the input: the candidate's consistency, not its truth.
"""


def build_demo(pipe: SRNAMPipeline, limits: Limits = Limits(), notice: ServerNotice | None = None) -> gr.Blocks:
    notice = notice or ServerNotice()
    switches = StopSwitches()
    # Several requests search at once on these models: keep them in eval mode for good (latent_search
    # takes gradients for the latents only and never changes the parameters).
    pipe.generator.eval()
    pipe.degradation.eval()

    with gr.Blocks(title="SR-NAM face super-resolution", delete_cache=(limits.cache_seconds, limits.cache_seconds)
                   ) as demo:
        server_notice = gr.Markdown(visible=False)
        gr.Markdown(INTRO)
        with gr.Tab("One face", elem_id="srnam-tab-face"):
            with gr.Row():
                with gr.Column(scale=1):
                    # type="filepath" plus preprocess=False below: the function gets the uploaded file untouched,
                    # so srnam (not Gradio) opens it, applying its checks and conversions to the original.
                    image = gr.Image(label="Face (a photo, or an already small face)", type="filepath",
                                     sources=["upload", "webcam", "clipboard"], elem_id="srnam-input")
                    candidates, steps, seed = budget_sliders(limits, "Number of candidates", "srnam")
                    with gr.Accordion("Advanced", open=False):
                        learning_rate = gr.Slider(0.01, limits.max_learning_rate, step=0.01,
                                                  value=search_learning_rate(pipe.generator),  # the model's own
                                                  label="Learning rate (Adam, on the latents)")
                        lr_mode = gr.Radio(LR_MODE_CHOICES, value="auto", label="How the LR input is made",
                                           info=f"auto treats uploads of at most {SMALL_SIDE}×{SMALL_SIDE} pixels "
                                                "as small faces already")
                        noise_seed = gr.Number(0, precision=0, minimum=0, maximum=limits.max_seed,
                                               label="Noise seed of the camera model (degrade mode)")
                    with gr.Row():
                        run = gr.Button("Find candidates", variant="primary", elem_id="srnam-run")
                        stop = gr.Button("Stop", variant="stop")
                    gr.Examples([[str(p)] for p in sorted(EXAMPLES.glob("*.jpg"))], inputs=[image],
                                label="Examples (synthetic faces: no real people)", cache_examples=False,
                                elem_id="srnam-examples")
                with gr.Column(scale=2):
                    # The label names this output in the API ("status", not "value_20"); the page does not show it.
                    status = gr.Markdown("Upload a face and press **Find candidates**.", label="status",
                                         show_label=False, elem_id="srnam-status")
                    with gr.Row():
                        reference = gr.Image(label="Face crop (reference)", format="png", interactive=False)
                        lr_input = gr.Image(label="LR input (what the search matches)", format="png",
                                            interactive=False)
                    grid = gr.Image(label="Comparison grid", format="png", interactive=False, elem_id="srnam-grid")
                    gr.Markdown(HOW_TO_READ)
                    # as tall as its rows (serving.PAGE_CSS), not a fixed box that 1–4 candidates leave empty
                    gallery = gr.Gallery(label="Candidates (best LR consistency first; LR PSNR)", columns=4,
                                         format="png", object_fit="contain", height="auto", interactive=False,
                                         elem_id="srnam-gallery")
                    scores = gr.Dataframe(headers=["candidate", "LR L1", "LR PSNR (dB)"], label="LR consistency",
                                          interactive=False)
                    downloads = gr.File(label="Downloads: the grid and each candidate (PNG)", file_count="multiple",
                                        interactive=False)

        with gr.Tab("Whole photo", elem_id="srnam-tab-photo"):
            build_photo_tab(pipe, limits, switches)

        outputs = {"status": status, "reference": reference, "lr_input": lr_input, "grid": grid,
                   "gallery": gallery, "scores": scores, "downloads": downloads}

        async def search(image, num_candidates, num_steps, seed, learning_rate, lr_mode, noise_seed,
                         request: gr.Request):
            try:
                checked = parse_request(limits, image, num_candidates, num_steps, seed, learning_rate, lr_mode,
                                        noise_seed)
            except BadRequest as err:
                yield by_component(outputs, cleared(f"**Cannot run.** {err}"))
                return
            switch = switches.take(request)
            try:
                # aclosing: when Gradio closes this generator early, run_search is closed too, which stops the search.
                async with aclosing(run_search(pipe, checked, limits, switch)) as updates:
                    async for update in updates:
                        yield by_component(outputs, update)
            finally:
                switches.release(request, switch)

        # queue=False for the switches: Run and Stop clicks must be noted at once, not behind queued searches.
        # While a search of the page is queued or running, further Run clicks are ignored (trigger_mode "once").
        clicked = run.click(switches.run_clicked, None, None, queue=False, api_visibility="private")
        clicked.then(search, [image, candidates, steps, seed, learning_rate, lr_mode, noise_seed],
                     list(outputs.values()), api_name="search", preprocess=False, show_progress="minimal")
        stop.click(switches.press, None, None, queue=False, api_name="stop", api_visibility="undocumented")
        demo.unload(switches.forget)
        # The notice is read on every page load: it is set only after launch (see serving.launch).
        demo.load(lambda: gr.Markdown(notice.text, visible=bool(notice.text)), None, server_notice,
                  api_name="notice")
    demo.queue(default_concurrency_limit=limits.concurrency, max_size=limits.queue_size)
    return demo
