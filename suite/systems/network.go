package systems

import (
	"context"

	"github.com/brokerbench/brokerbench/adapters"
	"github.com/brokerbench/brokerbench/adapters/kafka"
	"github.com/brokerbench/brokerbench/adapters/nats"
	"github.com/brokerbench/brokerbench/adapters/rabbitmq"
	"github.com/brokerbench/brokerbench/adapters/sqs"
)

// The systems below are reached over the network only: brokerbench never
// owns their process, so they have no Process.

func kafkaSystem() System {
	return System{
		Name:         "kafka",
		EnvPrefix:    kafka.EnvPrefix,
		Notes:        "any Kafka-protocol cluster; TLS and SASL through BROKERBENCH_KAFKA_* (docs/adapters/kafka.md)",
		Flags:        []Flag{{"kafka-brokers", "BROKERS", "Kafka bootstrap brokers, comma-separated"}},
		Settings:     kafka.EnvSettings,
		Capabilities: kafka.CapabilityVariants,
		Open:         networkOpener(kafka.ConfigFromEnv, func(c *kafka.Config) *adapters.RoleDialer { return &c.Dialer }, kafka.New),
	}
}

func rabbitmqSystem() System {
	return System{
		Name:         "rabbitmq",
		EnvPrefix:    rabbitmq.EnvPrefix,
		Notes:        "default amqp://guest:guest@127.0.0.1:5672/ (docs/adapters/rabbitmq.md)",
		Flags:        []Flag{{"rabbitmq-url", "URL", "RabbitMQ AMQP URL"}},
		Settings:     rabbitmq.EnvSettings,
		Capabilities: rabbitmq.CapabilityVariants,
		Open:         networkOpener(rabbitmq.ConfigFromEnv, func(c *rabbitmq.Config) *adapters.RoleDialer { return &c.Dialer }, rabbitmq.New),
	}
}

func natsSystem() System {
	return System{
		Name:         "nats",
		EnvPrefix:    nats.EnvPrefix,
		Notes:        "NATS JetStream, default nats://127.0.0.1:4222 (docs/adapters/nats.md)",
		Flags:        []Flag{{"nats-url", "URL", "NATS URL"}},
		Settings:     nats.EnvSettings,
		Capabilities: nats.CapabilityVariants,
		Open:         networkOpener(nats.ConfigFromEnv, func(c *nats.Config) *adapters.RoleDialer { return &c.Dialer }, nats.New),
	}
}

func sqsSystem() System {
	return System{
		Name:      "sqs",
		EnvPrefix: sqs.EnvPrefix,
		Notes:     "Amazon SQS or an SQS-compatible endpoint; region and credentials from the AWS chain (docs/adapters/sqs.md)",
		Flags: []Flag{
			{"sqs-endpoint", "ENDPOINT", "SQS endpoint URL (empty: the region's public endpoint)"},
			{"sqs-region", "REGION", "AWS region of SQS (empty: AWS_REGION or the shared config)"},
		},
		Settings:     sqs.EnvSettings,
		Capabilities: sqs.CapabilityVariants,
		Open: func(ctx context.Context, o OpenOptions) (adapters.System, func() error, error) {
			cfg, err := sqs.ConfigFromEnv(o.Getenv)
			if err != nil {
				return nil, nil, Setup(err)
			}
			return closer(sqs.New(ctx, cfg))
		},
		NoProxy: "the AWS SDK opens its own HTTPS connections, which the adapter does not route through a dialer",
	}
}

// networkOpener opens a system reached over the network: its configuration
// from the environment, its connections through o.Dialer. dialer points at
// the configuration's Dialer field.
func networkOpener[C any, S adapters.System](fromEnv func(func(string) string) (C, error), dialer func(*C) *adapters.RoleDialer,
	open func(context.Context, C) (S, error)) func(context.Context, OpenOptions) (adapters.System, func() error, error) {
	return func(ctx context.Context, o OpenOptions) (adapters.System, func() error, error) {
		cfg, err := fromEnv(o.Getenv)
		if err != nil {
			return nil, nil, Setup(err)
		}
		*dialer(&cfg) = o.Dialer
		return closer(open(ctx, cfg))
	}
}
