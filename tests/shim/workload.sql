-- workload.sql -- the sqlite3 CLI's work for the shim tests and bench/run_programs.py
-- An in-memory database: 200k rows inserted, indexes, joins, group by, sorts;
-- deterministic output (no random(), no times), compared byte for byte.
PRAGMA cache_size = -65536;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, region TEXT, joined INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, item TEXT, qty INTEGER,
                    price REAL, note TEXT);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO customers
SELECT i, printf('customer-%05d-%s', i, substr('abcdefghijklmnopqrstuvwxyz', i % 26 + 1, 5)),
       CASE i % 7 WHEN 0 THEN 'north' WHEN 1 THEN 'south' WHEN 2 THEN 'east'
                  WHEN 3 THEN 'west' WHEN 4 THEN 'centre' WHEN 5 THEN 'coast'
                  ELSE 'hills' END,
       2000 + i % 25
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO orders
SELECT i, 1 + (i * 7919) % 5000, printf('item-%04d', (i * 104729) % 1500), 1 + i % 9,
       round(((i * 31) % 10000) / 100.0, 2),
       CASE WHEN i % 5 = 0 THEN printf('%.*c', 20 + i % 200, 'x') ELSE NULL END
FROM n;
COMMIT;
CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_item_qty ON orders(item, qty);
CREATE INDEX customers_region ON customers(region, joined);
SELECT count(*), sum(qty), round(sum(qty * price), 2), sum(length(note)) FROM orders;
SELECT c.region, count(*), sum(o.qty), round(avg(o.price), 4), max(o.item)
FROM orders o JOIN customers c ON c.id = o.customer
GROUP BY c.region ORDER BY c.region;
SELECT c.joined, count(DISTINCT o.item), round(sum(o.qty * o.price), 2)
FROM customers c JOIN orders o ON o.customer = c.id
WHERE c.region IN ('north', 'coast') GROUP BY c.joined ORDER BY c.joined;
SELECT item, sum(qty) AS total FROM orders GROUP BY item ORDER BY total DESC, item LIMIT 15;
SELECT c.name, count(*) AS n, group_concat(DISTINCT o.qty) FROM customers c
JOIN orders o ON o.customer = c.id
GROUP BY c.id ORDER BY n DESC, c.name LIMIT 10;
CREATE TEMP TABLE big_spenders AS
SELECT customer, sum(qty * price) AS spent FROM orders GROUP BY customer HAVING spent > 4500;
SELECT count(*), round(min(spent), 2), round(max(spent), 2) FROM big_spenders;
SELECT b.customer, c.region, round(b.spent, 2) FROM big_spenders b
JOIN customers c ON c.id = b.customer ORDER BY b.spent DESC, b.customer LIMIT 10;
UPDATE orders SET note = upper(note) || '!' WHERE id % 3 = 0 AND note IS NOT NULL;
DELETE FROM orders WHERE qty = 9;
SELECT count(*), sum(length(note)), count(note) FROM orders;
SELECT substr(note, 1, 12), count(*) FROM orders WHERE note IS NOT NULL
GROUP BY substr(note, 1, 12) ORDER BY 2 DESC, 1 LIMIT 5;
SELECT o1.item, count(*) FROM orders o1 JOIN orders o2
  ON o2.item = o1.item AND o2.qty = o1.qty AND o2.id > o1.id
WHERE o1.id % 50 = 0 GROUP BY o1.item ORDER BY 2 DESC, 1 LIMIT 5;
SELECT count(*) FROM (SELECT DISTINCT customer, item FROM orders);
PRAGMA integrity_check;
