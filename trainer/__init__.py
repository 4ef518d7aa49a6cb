"""SkinLens trainer: fine-tunes MobileNetV2 on dermoscopic images (see ``python -m trainer --help``)."""
