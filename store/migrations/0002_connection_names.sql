-- A connection is found by its name (`koppel connect` again updates it): one per name, so
-- two concurrent connects of the same name cannot create two.
CREATE UNIQUE INDEX connections_name ON connections (name);
