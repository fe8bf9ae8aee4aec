-- The central database's fleet objects, schema version 1 (daka fleet init; app/fleet/central.py).
-- Run as the database owner on a database the store's Alembic migrations made. Every statement is
-- idempotent (IF NOT EXISTS, OR REPLACE, DROP ... IF EXISTS then CREATE), so a re-run repairs.

CREATE TABLE IF NOT EXISTS fleet_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE IF NOT EXISTS fleet_devices (
    device_id text PRIMARY KEY,
    role_name text UNIQUE NOT NULL,
    name text NOT NULL,
    location text NOT NULL DEFAULT '',
    created_at timestamptz DEFAULT now(),
    version text,
    heartbeat_at timestamptz,
    camera text,
    sensor text,
    pending integer,
    last_punch_at timestamptz,
    last_error text,
    enabled boolean NOT NULL DEFAULT true
);

CREATE TABLE IF NOT EXISTS fleet_changes (
    change_no bigserial PRIMARY KEY,
    table_name text NOT NULL,
    row_key text NOT NULL,
    op char(1) NOT NULL CONSTRAINT ck_fleet_changes_op CHECK (op IN ('U', 'D')),
    device_id text,
    at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS face_photos (
    sha256 text PRIMARY KEY,
    data bytea NOT NULL,
    created_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS fleet_device_settings (
    device_id text NOT NULL REFERENCES fleet_devices (device_id) ON DELETE CASCADE,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (device_id, key)
);

-- Keys of `settings` terminals never see (the registry's secrets: the webhook's key, the 4370
-- comm key); init_centre refreshes the list from the registry on every run.
CREATE TABLE IF NOT EXISTS fleet_secret_settings (
    key text PRIMARY KEY
);

-- The device id of the connected terminal role; NULL for any other role (the owner, the admin)
-- and for a disabled device. session_user, not current_user: inside a SECURITY DEFINER function
-- current_user is the definer.
CREATE OR REPLACE FUNCTION fleet_device_id() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT device_id FROM fleet_devices WHERE role_name = session_user::text AND enabled
$$;

CREATE TABLE IF NOT EXISTS fleet_enrolments (
    id bigserial PRIMARY KEY,
    device_id text NOT NULL DEFAULT fleet_device_id(),
    staff_no text,
    name text,
    photo bytea,
    descriptors jsonb,
    quality real,
    created_at timestamptz DEFAULT now(),
    applied_at timestamptz,
    error text
);

CREATE OR REPLACE VIEW fleet_settings_view AS
    SELECT s.key, s.value, s.updated_at FROM settings s
    WHERE s.key <> '_version' AND NOT EXISTS (SELECT 1 FROM fleet_secret_settings x WHERE x.key = s.key);

-- The change log: one row per changed row of the library and the settings, and a notification
-- carrying its number. A row whose key changed also leaves a tombstone for the old key.
CREATE OR REPLACE FUNCTION fleet_log_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r record;
    k text;
    old_k text;
    dev text;
    n bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_TABLE_NAME = 'face_photos' THEN
        k := r.sha256;
        IF TG_OP = 'UPDATE' THEN old_k := OLD.sha256; END IF;
    ELSIF TG_TABLE_NAME IN ('settings', 'fleet_device_settings') THEN
        k := r.key;
        IF TG_OP = 'UPDATE' THEN old_k := OLD.key; END IF;
        IF TG_TABLE_NAME = 'fleet_device_settings' THEN dev := r.device_id; END IF;
        -- the change counter and the secrets are none of a terminal's business
        IF TG_TABLE_NAME = 'settings' AND (k = '_version'
                OR EXISTS (SELECT 1 FROM fleet_secret_settings x WHERE x.key = k)) THEN
            RETURN NULL;
        END IF;
    ELSE
        k := r.id::text;
        IF TG_OP = 'UPDATE' THEN old_k := OLD.id::text; END IF;
    END IF;
    IF old_k IS NOT NULL AND old_k IS DISTINCT FROM k THEN
        INSERT INTO fleet_changes (table_name, row_key, op, device_id)
            VALUES (TG_TABLE_NAME, old_k, 'D', dev) RETURNING change_no INTO n;
        PERFORM pg_notify('daka_changes', n::text);
    END IF;
    INSERT INTO fleet_changes (table_name, row_key, op, device_id)
        VALUES (TG_TABLE_NAME, k, CASE WHEN TG_OP = 'DELETE' THEN 'D' ELSE 'U' END, dev)
        RETURNING change_no INTO n;
    PERFORM pg_notify('daka_changes', n::text);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS fleet_changes_staff ON staff;
CREATE TRIGGER fleet_changes_staff AFTER INSERT OR UPDATE OR DELETE ON staff
    FOR EACH ROW EXECUTE FUNCTION fleet_log_change();
DROP TRIGGER IF EXISTS fleet_changes_face_templates ON face_templates;
CREATE TRIGGER fleet_changes_face_templates AFTER INSERT OR UPDATE OR DELETE ON face_templates
    FOR EACH ROW EXECUTE FUNCTION fleet_log_change();
DROP TRIGGER IF EXISTS fleet_changes_face_photos ON face_photos;
CREATE TRIGGER fleet_changes_face_photos AFTER INSERT OR UPDATE OR DELETE ON face_photos
    FOR EACH ROW EXECUTE FUNCTION fleet_log_change();
DROP TRIGGER IF EXISTS fleet_changes_departments ON departments;
CREATE TRIGGER fleet_changes_departments AFTER INSERT OR UPDATE OR DELETE ON departments
    FOR EACH ROW EXECUTE FUNCTION fleet_log_change();
DROP TRIGGER IF EXISTS fleet_changes_settings ON settings;
CREATE TRIGGER fleet_changes_settings AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH ROW EXECUTE FUNCTION fleet_log_change();
DROP TRIGGER IF EXISTS fleet_changes_device_settings ON fleet_device_settings;
CREATE TRIGGER fleet_changes_device_settings AFTER INSERT OR UPDATE OR DELETE ON fleet_device_settings
    FOR EACH ROW EXECUTE FUNCTION fleet_log_change();

-- A photo no template points at any more (removed, its person deleted) leaves face_photos too:
-- its tombstone tells the terminals to delete their copy. After the statement, so a cascade that
-- deletes several rows of one photo has deleted them all when the check runs.
CREATE OR REPLACE FUNCTION fleet_forget_photo() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM face_photos p WHERE p.sha256 = OLD.photo_sha256
        AND NOT EXISTS (SELECT 1 FROM face_templates t WHERE t.photo_sha256 = OLD.photo_sha256);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS fleet_forget_photo ON face_templates;
CREATE TRIGGER fleet_forget_photo AFTER DELETE ON face_templates
    FOR EACH ROW EXECUTE FUNCTION fleet_forget_photo();

-- A terminal's punch carries its staff number; the central staff id is looked up here (NULL when
-- nobody has that number now, so a person deleted meanwhile does not refuse the upload). Punches
-- the central admin writes itself (make-ups) keep the id its writer gave.
CREATE OR REPLACE FUNCTION fleet_punch_staff() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF fleet_device_id() IS NULL THEN
        RETURN NEW;
    END IF;
    NEW.staff_id := (SELECT id FROM staff WHERE staff_no = NEW.staff_no);
    NEW.created_at := coalesce(NEW.created_at, now() AT TIME ZONE 'UTC');
    NEW.status := coalesce(NEW.status, 0);
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS fleet_punch_staff ON punches;
CREATE TRIGGER fleet_punch_staff BEFORE INSERT ON punches
    FOR EACH ROW EXECUTE FUNCTION fleet_punch_staff();

-- The webhook's outbox row of a terminal's punch (terminals cannot touch push_outbox): written
-- while push is on, i.e. while the stored setting push.webhook_url is not empty -- the rule the
-- admin's PunchWriter follows for the punches it writes itself (which therefore are skipped here).
CREATE OR REPLACE FUNCTION fleet_punch_outbox() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF fleet_device_id() IS NULL THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM settings WHERE key = 'push.webhook_url'
               AND value NOT IN ('""', 'null') AND value <> '') THEN
        INSERT INTO push_outbox (punch_id, created_at, attempts, next_attempt_at)
            VALUES (NEW.id, now() AT TIME ZONE 'UTC', 0, now() AT TIME ZONE 'UTC')
            ON CONFLICT (punch_id) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS fleet_punch_outbox ON punches;
CREATE TRIGGER fleet_punch_outbox AFTER INSERT ON punches
    FOR EACH ROW EXECUTE FUNCTION fleet_punch_outbox();

-- An enrolment a terminal sent up becomes staff (when new), a photo and its templates, or is
-- refused whole: `error` says why and nothing is applied (the block's subtransaction rolls back).
CREATE OR REPLACE FUNCTION fleet_apply_enrolment() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    digest text;
    who integer;
    uid integer;
    stored text;
    model text;
    encoded text;
    vec bytea;
    utc timestamp := now() AT TIME ZONE 'UTC';
BEGIN
    NEW.applied_at := NULL;
    NEW.error := NULL;
    BEGIN
        IF NEW.staff_no IS NULL OR btrim(NEW.staff_no) = '' OR length(NEW.staff_no) > 32 THEN
            RAISE EXCEPTION USING ERRCODE = 'DKE01', MESSAGE = 'bad_staff_no';
        END IF;
        IF NEW.photo IS NULL OR length(NEW.photo) = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'DKE02', MESSAGE = 'no_photo';
        END IF;
        IF NEW.descriptors IS NULL OR jsonb_typeof(NEW.descriptors) <> 'object'
                OR NOT EXISTS (SELECT 1 FROM jsonb_object_keys(NEW.descriptors)) THEN
            RAISE EXCEPTION USING ERRCODE = 'DKE03', MESSAGE = 'bad_descriptors';
        END IF;
        digest := encode(sha256(NEW.photo), 'hex');
        SELECT id INTO who FROM staff WHERE staff_no = NEW.staff_no;
        IF who IS NULL THEN
            IF NEW.name IS NULL OR btrim(NEW.name) = '' OR length(NEW.name) > 64 THEN
                RAISE EXCEPTION USING ERRCODE = 'DKE04', MESSAGE = 'bad_name';
            END IF;
            -- zk_uid is handed out above the highest ever given (the store's rule: a deleted
            -- person's uid is never given again; store_counters keeps it); the lock keeps two
            -- enrolments of new people from taking the same number
            LOCK TABLE staff IN SHARE ROW EXCLUSIVE MODE;
            INSERT INTO staff (staff_no, name, department, phone, active, created_at, updated_at, zk_uid)
                VALUES (NEW.staff_no, NEW.name, '', '', true, utc, utc,
                        greatest((SELECT coalesce(max(zk_uid), 0) FROM staff),
                                 (SELECT coalesce(max(value), 0) FROM store_counters WHERE name = 'zk_uid')) + 1)
                RETURNING id, zk_uid INTO who, uid;
            INSERT INTO store_counters (name, value) VALUES ('zk_uid', uid)
                ON CONFLICT (name) DO UPDATE SET value = greatest(store_counters.value, excluded.value);
        ELSIF coalesce(btrim(NEW.name), '') <> '' AND NEW.name <> (SELECT name FROM staff WHERE id = who) THEN
            -- the library's own rule: a staff number names one person (no name: the known one)
            RAISE EXCEPTION USING ERRCODE = 'DKE06', MESSAGE = 'name_conflict';
        ELSIF EXISTS (SELECT 1 FROM face_templates WHERE staff_id = who AND photo_sha256 = digest) THEN
            RAISE EXCEPTION USING ERRCODE = 'DKE05', MESSAGE = 'duplicate_photo';
        END IF;
        INSERT INTO face_photos (sha256, data) VALUES (digest, NEW.photo) ON CONFLICT (sha256) DO NOTHING;
        stored := replace(gen_random_uuid()::text, '-', '') ||
                  CASE WHEN substring(NEW.photo FROM 1 FOR 4) = '\x89504e47'::bytea THEN '.png' ELSE '.jpg' END;
        -- (the gallery keys a photo by its first model's row, whatever the row order)
        FOR model, encoded IN SELECT e.key, e.value FROM jsonb_each_text(NEW.descriptors) e ORDER BY e.key
        LOOP
            BEGIN
                vec := decode(encoded, 'base64');
            EXCEPTION WHEN OTHERS THEN
                RAISE EXCEPTION USING ERRCODE = 'DKE03', MESSAGE = 'bad_descriptors';
            END;
            -- float32 values, as many as the model's other templates hold
            IF vec IS NULL OR length(vec) = 0 OR length(vec) % 4 <> 0 OR length(model) > 64
                    OR length(vec) <> coalesce((SELECT length(t.descriptor) FROM face_templates t
                                                       WHERE t.model_id = model LIMIT 1), length(vec)) THEN
                RAISE EXCEPTION USING ERRCODE = 'DKE03', MESSAGE = 'bad_descriptors';
            END IF;
            INSERT INTO face_templates (staff_id, descriptor, model_id, photo_file, photo_sha256, original_name,
                                        quality, created_at)
                VALUES (who, vec, model, stored, digest, 'fleet:' || NEW.device_id,
                        coalesce(NEW.quality, 0), utc);
        END LOOP;
        NEW.applied_at := now();
    EXCEPTION WHEN OTHERS THEN
        NEW.error := SQLERRM;
    END;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS fleet_apply_enrolment ON fleet_enrolments;
CREATE TRIGGER fleet_apply_enrolment BEFORE INSERT ON fleet_enrolments
    FOR EACH ROW EXECUTE FUNCTION fleet_apply_enrolment();
