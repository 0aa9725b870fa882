-- ICD-10-CM categories and subcategories (E11, S72.0, S72.00, …): real codes that are not
-- billable, so not rows of `codes`, but that answers and notes refer to.
CREATE TABLE IF NOT EXISTS icd_categories (
    code TEXT NOT NULL PRIMARY KEY,
    title TEXT NOT NULL
);
