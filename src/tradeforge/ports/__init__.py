"""Ports: the interfaces (typing.Protocol) the engines depend on, implemented by adapters."""
