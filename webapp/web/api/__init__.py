"""The /scheduled JSON API of the original design, kept compatible: views and serializers."""
