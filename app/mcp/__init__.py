"""The MCP entry point: ``sagehealth mcp serve`` (stdio or streamable HTTP) over the services."""
