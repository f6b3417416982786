"""Attacks as torchattacks ``Attack`` subclasses (one per file) and the training-time hook.

Every attack takes images in [0, 1] and integer labels and returns detached adversarial images in
[0, 1]; they compose with torchattacks (``MultiAttack``, ``save``, targeted modes, devices).
"""
