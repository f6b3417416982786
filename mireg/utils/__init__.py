"""The ground floor: small torch and file mechanics that every upper floor uses, each written once.

Nothing here imports other mireg code but :mod:`mireg._validation`. One module per mechanic:

=================  ===============================================================================
``modes``          :func:`preserved_modes`: set a model's train/eval mode for a block and restore every
                   submodule's own flag exactly afterwards (also on exceptions)
``seeding``        :func:`seeded`: a block under ``torch.manual_seed(seed)`` that leaves the caller's
                   random state untouched; :func:`draw_seed`: a fresh seed from the caller's stream
``atomic``         :func:`atomic_writer`, :func:`atomic_write_text`, :func:`atomic_write_bytes`,
                   :func:`save_figure`: a file appears whole or not at all, never written through a
                   link; a failed write is a one-line :class:`WriteError`; :func:`remove_leftovers`
``paths``          :func:`check_output_dir`, :func:`check_output_file`: output paths checked before
                   the work starts
``lock``           :class:`FolderLock`: one live process per folder; a killed holder's lock is stale
``device``         :func:`model_device` (where a model lives) and :func:`resolve_device` ("auto", "cpu",
                   "cuda", "cuda:N")
``parsing``        :func:`parse_fraction`: "8/255" -> 0.0313..., for argparse and config files
=================  ===============================================================================

Import from the module (``from mireg.utils.modes import preserved_modes``): this package's
``__init__`` imports nothing, so :mod:`mireg.utils.parsing` stays free of torch.
"""
