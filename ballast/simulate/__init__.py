"""`ballast simulate`: scenarios played through the real decision core against a platform model (DESIGN.md "The simulator")."""
