// The models gentrain trains: adding a model is one file in this folder and one line here.

import JobFiles

/// Every model gentrain knows, by its name in job files.
public enum ModelRegistry {
    public static let all: [ModelDescription] = [
        Autoencoder.description,
        VariationalAutoencoder.description,
        DCGAN.description,
        Classifier.description,
    ]

    /// The schemas the job reader validates against.
    public static var schemas: [ModelSchema] { all.map(\.schema) }

    /// The model named `name` (a job's `model.kind`).
    public static func named(_ name: String) -> ModelDescription? { all.first { $0.name == name } }

    /// The model a validated job names, built from its settings.
    public static func makeModel(_ job: Job) -> any TrainableModel {
        guard let description = named(job.modelKind) else { fatalError("job \(job.name): model \(job.modelKind) is not registered") }
        return description.make(ModelConfiguration(job: job, schema: description.schema))
    }

    /// Reads and validates a job file against the registered models.
    public static func loadJob(path: String, overrides: [String] = []) throws(JobError) -> Job {
        try Job.load(path: path, overrides: overrides, models: schemas)
    }

    /// A job from the JSON a checkpoint stores.
    public static func storedJob(_ text: String) throws -> Job { try Job.decodeStored(text, models: schemas) }
}
