"""`disgu explore`: a local page to move a run's directions with sliders and watch the image and its codes.

    model.py           the run's Glow, directions and encoder: decode a shifted latent, read its codes
    api.py             the JSON API under /api/ (Starlette), request checking and coalescing
    server.py          binding the socket and running uvicorn
    static/explorer.html  the page (plain HTML and JavaScript, nothing from the network)
"""
