// Runs SQL statements with DuckDB (npm @duckdb/node-api) in an in-memory
// database and prints one JSON array per statement, of row objects whose
// values DuckDB has converted to JSON (cast in SQL to compare exactly).
//
// Usage: node query.mjs 'SQL' ['SQL'...]
import { DuckDBInstance } from '@duckdb/node-api';

const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
const out = [];
for (const sql of process.argv.slice(2)) {
  const reader = await conn.runAndReadAll(sql);
  out.push(reader.getRowObjectsJson());
}
process.stdout.write(JSON.stringify(out) + '\n');
