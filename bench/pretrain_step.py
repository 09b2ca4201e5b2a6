"""Cost of one step of the demo CLIP's pretraining (openvclip/train/pretrain.py): torch's plain AdamW and
tokenizer vs what pretraining runs, the fused AdamW (``adamw``) and the tokenizer with a memory
(``CaptionTokens``).

The demo CLIP has 7.8M parameters, 6.3M of them its token embedding (49,408 rows), which every AdamW step
updates whole; its images are 32 pixels, so the forward and backward passes are small beside that update.

    python bench/pretrain_step.py                 # the demo config's model and a batch of 112 (2 rounds)
    python bench/pretrain_step.py --threads 2 --repeats 20

Last lines: ``ratio NAME VALUE`` (ours over torch's plain step).
"""

from __future__ import annotations

import argparse

import yaml
from common import add_device_args, alternate, start  # bench/common.py (scripts run as python bench/NAME.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config.yaml", help="config whose clip.model is timed")
    parser.add_argument("--batch", type=int, default=112, help="images per step (the demo: 56 objects x 2 rounds)")
    parser.add_argument("--repeats", type=int, default=10)
    add_device_args(parser)
    args = parser.parse_args()
    device = start(parser, args)

    import torch

    from openvclip.models import build_clip, build_tokenizer
    from openvclip.train.pretrain import CaptionTokens, adamw, contrastive_loss

    spec = yaml.safe_load(open(args.config))["clip"]["model"]
    tokenizer = build_tokenizer(spec)
    names = [f"red circle {i % 56}" for i in range(args.batch)]
    captions = [f"a photo of a {name}." for name in names]
    images = torch.randn(
        args.batch,
        3,
        spec["config"]["vision_cfg"]["image_size"],
        spec["config"]["vision_cfg"]["image_size"],
        device=device,
    )

    def step(model, optimizer, tokens):
        image_features, text_features, logit_scale = model(images, tokens(captions).to(device))[:3]
        loss = contrastive_loss(image_features, text_features, logit_scale, names)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    torch.manual_seed(0)
    plain_model, ours_model = build_clip(spec).to(device), build_clip(spec).to(device)
    plain_optimizer = torch.optim.AdamW(plain_model.parameters(), lr=1e-4, weight_decay=0.1)
    ours_optimizer = adamw(ours_model.parameters(), lr=1e-4, weight_decay=0.1)
    ours_tokens = CaptionTokens(tokenizer)
    seconds = alternate(
        {
            "plain": lambda: step(plain_model, plain_optimizer, tokenizer),
            "ours": lambda: step(ours_model, ours_optimizer, ours_tokens),
        },
        args.repeats,
        device,
    )
    for name, value in seconds.items():
        print(f"{name}: {value * 1000:.1f} ms/step")
    suffix = "_cuda" if device.type == "cuda" else ""
    print(f"ratio pretrain_step_time_ours_over_plain{suffix} {seconds['ours'] / seconds['plain']:.3f}")


if __name__ == "__main__":
    main()
