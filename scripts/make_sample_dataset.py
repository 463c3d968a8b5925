"""Write the built-in sample dataset: a balanced Fashion-MNIST subset as an image folder.

    python scripts/make_sample_dataset.py [--per-class 30] [--seed 0] [--source DIR]

Writes assets/sample/fashion-mnist/<class name>/<split>_<index>.png (28×28 greyscale PNGs from the
Fashion-MNIST test set) and assets/sample/LICENSE. The output is deterministic for a given seed,
so re-running it reproduces the committed files.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resnet_core.data import fashion_mnist

OUT = ROOT / "assets" / "sample"

LICENSE = """\
The images in fashion-mnist/ are a subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist) by Zalando Research,
Han Xiao, Kashif Rasul and Roland Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017.
They are redistributed under the dataset's MIT licence:

The MIT License (MIT)

Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=30, help="images per class (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="which images are drawn (default 0)")
    parser.add_argument("--source", default=str(fashion_mnist.DEFAULT_DIR),
                        help="folder with the gzipped IDX files (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error("--per-class must be at least 1")
    images = OUT / "fashion-mnist"
    try:
        fashion_mnist.load("test", args.source)  # fail before deleting the old sample
    except fashion_mnist.FashionMNISTMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if images.exists():
        shutil.rmtree(images)
    count = args.per_class * len(fashion_mnist.CLASSES)
    fashion_mnist.write_image_folder(images, count, split="test", seed=args.seed, directory=args.source)
    (OUT / "LICENSE").write_text(LICENSE, encoding="utf-8")
    written = sum(1 for _ in images.rglob("*.png"))
    print(f"wrote {written} images in {len(fashion_mnist.CLASSES)} classes to {images.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
