"""Does reading a face and its mirror image together read the mouth better? (session 31)

The hour's accuracy misses are the mouth's (Smiling 86 %, Mouth_Slightly_Open 91 % in session 30's hour), and a
fitted KL offset per attribute gained only a few faces (experiments/attribute_kl_offsets.py): the encoder's misses,
not the rule's. A mirror image is a second look at the same face (every attribute is the same under a left-right
flip; a few styles, the lopsided smile and the side parting, are drawn one way only, so the mirror is a little off
the training set). This reads vcn eval's first N test faces by the KL rule (d = KL_present - KL_absent < 0), on the
faces, on their mirror images, and on the sum of both d's, and prints the accuracies and the worst attributes.

    PYTHONPATH=.:experiments python experiments/flip_reading.py W... [--n 2000] [--worst 6]
"""

from __future__ import annotations

from attribute_kl_offsets import differences_of, probe_arguments, rendered_faces

from model.checkpoint import load_vcn
from model.data import faces
from model.evaluate import TEST_SEED


def main() -> None:
    a = probe_arguments(__doc__)
    for path in a.weights:
        model = load_vcn(path).eval()
        images, truth = rendered_faces(TEST_SEED, 0, a.n, model.cfg.image_size)
        d, m = differences_of(model, images), differences_of(model, images.flip(2))  # (n, H, W, 3): W mirrored
        right = {name: ((x < 0) == truth).float().mean(0) for name, x in
                 (("faces", d), ("mirrored", m), ("both", d + m))}
        print(f"{path} ({a.n} faces): " + ", ".join(f"{k} {v.mean():.4f}" for k, v in right.items()))
        for k in right["faces"].argsort()[: a.worst].tolist():
            print(f"  {faces.ATTRIBUTES[k]}: " + ", ".join(f"{n} {v[k]:.3f}" for n, v in right.items()))


if __name__ == "__main__":
    main()
