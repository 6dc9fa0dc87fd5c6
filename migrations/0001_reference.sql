-- Reference data: administrative units of the two-tier model and the national catalog
-- of administrative procedures.
--
-- Vietnamese search must ignore diacritics. The embedded PostgreSQL (pgserver wheel)
-- ships no contrib extensions, so there is no unaccent/pg_trgm: fold_vi() does the
-- folding with core functions only, and is immutable so generated columns can use it.

create function fold_vi(t text) returns text
    language sql immutable strict parallel safe
return translate(
    lower(normalize(t, NFC)),
    'ÀÁÂÃÈÉÊÌÍÎÒÓÔÕÙÚÛÝàáâãèéêìíîòóôõùúûýĂăĔĕĨĩĬĭŎŏŨũŬŭŶŷƠơƯưḌḍṌṍṸṹẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹđĐ',
    'aaaaeeeiiioooouuuyaaaaeeeiiioooouuuyaaeeiiiioouuuuyyoouuddoouuaaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyydd'
);

create table provinces (
    code         text primary key check (code ~ '^[0-9]{2}$'),
    name         text not null,
    name_en      text not null,
    full_name    text not null,
    full_name_en text not null,
    kind         text not null check (kind in ('province', 'municipality')),
    search_name  text generated always as (fold_vi(full_name || ' ' || full_name_en)) stored
);

create table communes (
    code          text primary key check (code ~ '^[0-9]{5}$'),
    province_code text not null references provinces (code),
    name          text not null,
    name_en       text not null,
    full_name     text not null,
    full_name_en  text not null,
    kind          text not null check (kind in ('commune', 'ward', 'special_zone')),
    search_name   text generated always as (fold_vi(full_name || ' ' || full_name_en)) stored
);
create index communes_province_idx on communes (province_code, code);

-- statutory_days is empty where the national portal gives no single limit; the product
-- then uses a configured default and shows it as assumed, not statutory.
create table procedures (
    code           text primary key check (code ~ '^[0-9]+\.[0-9]{6}$'),
    name_vi        text not null,
    name_en        text not null,
    field_vi       text not null,
    field_en       text not null,
    statutory_days integer check (statutory_days > 0),
    days_kind      text check (days_kind in ('working', 'calendar')),
    levels         text[] not null default '{}',
    legal_basis    text,
    search_name    text generated always as (fold_vi(name_vi || ' ' || name_en)) stored,
    check ((statutory_days is null) = (days_kind is null))
);
