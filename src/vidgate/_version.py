"""vidgate's version, in a module of its own: the floors below the package face can read it
without importing the package (which imports the engine)."""

__version__ = "0.1.0"
