"""The local model server: llama.cpp serving a GGUF on loopback, offline.

``model`` finds and checks the model file, ``server`` starts and stops the server, ``state``
keeps its record, ``registry`` turns a running server into the catalog's ``local`` provider,
``only`` restricts routing to local models, ``probe`` measures speed.
"""
