"""The HTTP API and web page of SAGE-Health (``sagehealth serve``); see ``app.http.app.create_app``."""
