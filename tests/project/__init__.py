"""The project as shipped: public names, README examples, the benchmarks' smoke run."""
