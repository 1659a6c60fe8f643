"""Applications of OT maps on real data (the seed papers' experiments), each a Python function and a CLI command.

Modules: :mod:`~monge.apps.digits` (scikit-learn's digits as tensors, the small classifier whose features the
applications score with), colour transfer, domain adaptation, latent-space generation, W2GAN generation,
image-to-image maps with ConvICNNs and the 2-D gallery. Applications sit beside ``run/`` and ``cli/``: they
may import every lower layer, and nothing below imports them.
"""
