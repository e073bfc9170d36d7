"""The analyses' result classes: plain, frozen dataclasses, and nothing here imports torch.

They live apart from the analyses (which import torch at import time) so that a profile loaded from
JSON (:func:`netcensus.results.schema.from_dict`, ``netcensus show FILE.json``) holds the very classes a live
profile holds, without torch:

* :mod:`.compute`: :class:`~.compute.ComputeResult` and its parts (re-exported by
  :mod:`netcensus.analyses.compute`);
* :mod:`.memory`: :class:`~.memory.MemoryResult` and its parts;
* :mod:`.kv_cache`: :class:`~.kv_cache.KVCache`, :class:`~.kv_cache.KVLayer`;
* :mod:`.profile`: :class:`~.profile.Profile` and :class:`~.profile.LayerRow`, assembled once from the
  others; :mod:`.schema`: their versioned JSON.
"""
