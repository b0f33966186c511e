-- The databases of compose.yaml's two platforms, for its `backing` PostgreSQL.
CREATE DATABASE airlock_a;
CREATE DATABASE airlock_b;
