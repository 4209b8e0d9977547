"""Style swaps of a checkout's code and shipped faces file, as `vcn eval` judges them, and a face swapped with itself.

    python experiments/swap_styles.py CHECKOUT [--paste]

Imports CHECKOUT's code (ahead of any installed copy) and loads its weights/faces.safetensors. Prints, per style
attribute, vcn eval's swap_style_transfer (the share of swaps from a face the oracle reads in another style that
show the donor's style, the attribute present) and swap_style_presence, their means over the 17 style attributes,
and how far a swap of Eyeglasses / Bangs / Wearing_Hat / Smiling from the face itself moves each of the first 30
test faces (mean absolute pixel change, 0-1 scale). Session 15 ran it on two checkouts: the shipped swap (a face
that keeps its state takes the donor's residual times the style strength on the maps' prediction for it, so a
self-swap pushes its own style) against one that moved such a face by the style strength times the donor's residual
less its own (a self-swap then changes nothing); docs/recipes-sessions-15-16.md, session 15, has the figures.
"""

from __future__ import annotations

import sys
import time

NAMED = ("Eyeglasses", "Bangs", "Wearing_Hat", "Smiling")


def main() -> None:
    checkout, paste = sys.argv[1], "--paste" in sys.argv[2:]
    sys.path.insert(0, checkout)
    import torch

    from model.checkpoint import load_vcn
    from model.data import faces
    from model.edit_metrics import style_swap_metrics
    from model.evaluate import N_STYLE, N_TEST, TEST_SEED, _prepare
    from model.oracle import load_oracle
    from model.readings import to_input

    assert sys.modules["model"].__file__.startswith(checkout.rstrip("/") + "/"), sys.modules["model"].__file__
    torch.set_num_threads(2)
    cpu, t0 = torch.device("cpu"), time.time()
    oracle = _prepare(load_oracle(f"{checkout}/weights/oracle.safetensors"), cpu)
    model = _prepare(load_vcn(f"{checkout}/weights/faces.safetensors"), cpu)
    batch = faces.sample_faces(TEST_SEED, 0, N_TEST)
    images, attrs = torch.as_tensor(faces.render(batch, size=64)), torch.as_tensor(batch.attrs).bool()
    styles = tuple(oracle.cfg.style_names)
    with torch.inference_mode():
        r = style_swap_metrics(model, oracle, images, attrs, styles, N_STYLE, 100, cpu, paste)
        x = to_input(images[:30], cpu)
        own = model.reconstruct(x) if not paste else x
        moved = {n: float((model.swap(x, x, [n], paste=paste) - own).abs().mean()) for n in NAMED}
    t, p = r["swap_style_transfer"], r["swap_style_presence"]
    for name in styles:
        print(f"  {name:18s} shows the donor's style {t[name]:.3f}  present {p[name]:.3f}")
    print(f"{checkout}{' pasted' if paste else ''}: mean of {len(t)}: donor's style {sum(t.values()) / len(t):.3f}, "
          f"present {sum(p.values()) / len(p):.3f}; E / B / H {t['Eyeglasses']:.3f} / {t['Bangs']:.3f} / "
          f"{t['Wearing_Hat']:.3f}; self-swap moves " + ", ".join(f"{n} {v:.4f}" for n, v in moved.items())
          + f"; {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
