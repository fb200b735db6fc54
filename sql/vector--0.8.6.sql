-- vector: pgvector's extension name, an alias of ann (vector.control).
-- ann, which this extension requires, creates the types, operators,
-- functions, access methods and opclasses a pgvector 0.8.6 schema uses;
-- this one creates no object, so that a dump's CREATE EXTENSION vector
-- succeeds and dropping it leaves ann's objects alone.  The version names
-- the pgvector release whose SQL surface ann provides (README.md,
-- "Compared with pgvector 0.8.6").

\echo Use "CREATE EXTENSION vector" to load this file. \quit
