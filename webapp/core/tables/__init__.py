"""The tables, one module a part of the product; imported together from webapp.core.models."""
