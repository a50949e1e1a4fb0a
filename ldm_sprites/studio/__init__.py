"""``ldmsprites studio``: a local web app over ``ldm_sprites.api``.

``actions`` holds what the buttons do as plain, testable functions; ``jobs`` runs sampling
requests one at a time for every browser tab; ``server`` is the HTTP/JSON layer (Python's own
``http.server``) and ``static/`` the page. Nothing beyond the core install is needed.
"""
