"""A scripted stand-in for the OpenAI Responses API, for hermetic live runs.

The real Codex CLI talks to it exactly as it would to the public API (streamed
Server-Sent Events); it scripts the agent turns of the live matrix and, on request,
the failures a worker must survive. Standard library only.
"""

__version__ = "0.1.0"
