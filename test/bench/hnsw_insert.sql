\set qid random(1, 1000)
INSERT INTO fmnist_insert (label, embedding) SELECT label, embedding FROM fmnist_test WHERE id = :qid;
