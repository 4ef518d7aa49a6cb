"""SkinLens converter: a trained run folder -> TensorFlow.js graph model + metadata.json."""
