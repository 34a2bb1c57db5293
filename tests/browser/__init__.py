"""Real-browser tests: JupyterLab in headless Chromium (`make test-browser`)."""
