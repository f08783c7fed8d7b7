-- A ledger row's dollars as a column (NULL where the model's price was unknown): budgets sum it
-- in the database instead of parsing every row's JSON (4-7 ms a check at 2,000 rows a day).
ALTER TABLE ledger ADD COLUMN cost_usd REAL;
UPDATE ledger SET cost_usd = json_extract(data, '$.cost_usd');
