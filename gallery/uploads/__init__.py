"""Uploads: images people made elsewhere, read safely, with their prompt and settings.

``safety`` decodes an untrusted file (PNG, JPEG or WebP only, decided by decoding) and collects
its text chunks; ``metadata`` turns those chunks into the API's draft fields, with one parser
module per generator family; ``reproducibility`` says whether our worker could render the image
again; ``services`` and ``selectors`` are the writes and reads the API, the pages and the
``import_images`` command share.
"""
