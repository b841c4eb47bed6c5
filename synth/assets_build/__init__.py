"""``synth assets build``: assets built once into a cache (HDRI skies today), their catalog and their manifest.

The cache (``$SYNTH_ASSETS``, else ``<venv>/share/synth/assets``) holds ``catalog.yaml`` (the built-in catalog plus every
built asset; :func:`synth.scenes.catalog.default_catalog_path` prefers it when it exists), the asset files, and
``manifest.json`` (every shipped and built asset: source package, version, file, licence, sha256; assets that
could not be built are listed under ``unavailable`` with the reason). Nothing is downloaded at render time.
"""
