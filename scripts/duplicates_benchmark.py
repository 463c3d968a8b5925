"""How long the duplicate check takes on N decoded images (default 20,000), and what it finds.

    python3 scripts/duplicates_benchmark.py [--images 20000] [--source fashion-mnist|generated]
                                            [--feature-dim 512]

The images are decoded first (Fashion-MNIST from its IDX files, or generated pictures); then the
check is timed as it runs on a dataset: grey thumbnails, content hashes, perceptual hashes, the
pair search, the thumbnail confirmation and the grouping. Decoding files is not included (it is
done once per file and cached). When the label check has taken ImageNet features, the check also
looks for mutual nearest neighbours by feature cosine: timed here on as many random vectors of
--feature-dim (ResNet-18's 512) as images, since its cost depends on the shape only (0 skips it).
Prints the figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_core.data import fashion_mnist  # noqa: E402 - after the path above
from resnet_core.data.duplicates import (  # noqa: E402
    CANDIDATE_BITS,
    FEATURE_COSINE,
    NEAR_CORRELATION,
    content_hash,
    feature_pairs,
    grey_thumbnail,
    group_indices,
    near_copy_pairs,
    near_pairs,
    perceptual_hashes,
)
from resnet_core.data.synthetic import make_picture  # noqa: E402


def decoded_images(source: str, n: int) -> list[Image.Image]:
    if source == "fashion-mnist":
        pixels, _ = fashion_mnist.load("train")
        return [Image.fromarray(a) for a in pixels[:n]]
    rng = np.random.default_rng(0)
    return [make_picture(64, rng) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--source", choices=("fashion-mnist", "generated"), default="fashion-mnist")
    parser.add_argument("--feature-dim", type=int, default=512)
    args = parser.parse_args()
    images = decoded_images(args.source, args.images)
    n = len(images)
    print(f"{n:,} decoded images ({args.source}), {os.cpu_count()} CPU cores")

    started, cpu_started = time.perf_counter(), time.process_time()
    thumbs = np.stack([grey_thumbnail(im) for im in images])
    contents = [content_hash(im.tobytes()) for im in images]
    t_thumbs = time.perf_counter() - started
    groups = group_indices(contents, thumbs, np.ones(n, dtype=bool))
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started

    hashes, flat = perceptual_hashes(thumbs)
    candidates = len(near_pairs(hashes[~flat])[0])
    confirmed = len(near_copy_pairs(thumbs))
    in_groups = sum(len(g) for g in groups)
    print(f"thumbnails and content hashes: {t_thumbs:.1f} s")
    print(f"pair search, confirmation and grouping: {total - t_thumbs:.1f} s")
    # The CPU time too: on a machine shared with other work, wall time says more about the others.
    print(f"whole check once decoded: {total:.1f} s ({cpu:.1f} s of CPU time; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"candidate pairs (pHash within {CANDIDATE_BITS} bits): {candidates:,}; "
          f"confirmed near-copies (correlation >= {NEAR_CORRELATION}): {confirmed:,}; "
          f"{len(groups):,} groups holding {in_groups:,} images")
    if args.feature_dim:
        features = np.random.default_rng(0).normal(size=(n, args.feature_dim)).astype(np.float32)
        started = time.perf_counter()
        pairs = feature_pairs(features)
        t_features = time.perf_counter() - started
        print(f"feature near-copies (mutual nearest neighbours, cosine >= {FEATURE_COSINE}) over {n:,} × "
              f"{args.feature_dim} features: {t_features:.1f} s ({len(pairs)} pairs among random vectors); "
              f"whole check with features: {total + t_features:.1f} s")


if __name__ == "__main__":
    main()
